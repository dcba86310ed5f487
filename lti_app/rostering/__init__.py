"""The job store: rostering jobs, their files and messages, the schedule and its blackouts, sync
requests, the health tally and retention. No blueprint, no request, no rendering: the tab
(``lti_app/tab/``) shows it, the agent API (``lti_app/api/``) writes it."""
