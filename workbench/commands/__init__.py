"""One module per group of CLI commands; each function takes the parsed argparse namespace."""
