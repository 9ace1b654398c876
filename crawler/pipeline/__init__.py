"""The pipeline on top: one run over every job, joining the reader of Prow, the Logilica
writer, each job's state and the output (run.py: the orchestration)."""

from crawler.pipeline.run import Pipeline

__all__ = ["Pipeline"]
