"""`workbench export` and `workbench export-mlflow` (and the app's export key): a finished run taken
outside workbench. folder.py writes the export (plan_export, write_export, export_run), card.py its
model card, code.py the stand-alone Python the card and SageMaker's inference.py share, sagemaker.py
the SageMaker archive, mlflow.py a run sent to MLflow."""
