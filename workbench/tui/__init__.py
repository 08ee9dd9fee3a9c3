"""The Textual app (`workbench` with no command). The only package that imports textual: the
core (store, recipes, launchers) stays headless and is called from workers here."""
