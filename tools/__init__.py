"""Code that only tests, docs, benchmarks and the demo data use: never imported by the workbench package."""
