"""RQ job entry points, queue names and the periodic-job (rq cron) configuration."""
