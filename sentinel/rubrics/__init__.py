"""Rubrics: one YAML file per task, naming its params and the criteria the judges check."""
