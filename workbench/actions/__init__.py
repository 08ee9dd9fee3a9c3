"""The actions both front ends call: typed functions that take values (no argparse Namespace), do the
work through the core packages and return data (dataclasses, rows); they never print and raise
UserError for bad input. workbench.cli renders their results on the console, the app in its widgets
(in workers); neither front end imports the other."""
