"""Reading Prow: deck's job-history pages, the GCS bucket (listings, objects, step graphs) and
discovery, which decides what a run reads for each job."""
