"""Coverage-guided fuzz targets (atheris) and the checks they share with the test suite."""
