"""Query engines over the same lake: DuckDB in-process now; Athena and Spark at scale."""
