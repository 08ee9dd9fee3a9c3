"""One module per screen; each screen's styles live in styles/<screen>.tcss."""
