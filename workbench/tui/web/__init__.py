"""`workbench serve`: the app in a browser tab through textual-serve, for its user alone (access.py: the
token every request needs; server.py: the web server; served_app.py: the app process each tab starts)."""
