"""Project_Report.md, written from the pipeline's own outputs (the report stage)."""
