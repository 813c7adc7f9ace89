"""HR performance-assessment reports: the assessment scheme and QA rubric as data, staff scorecards for a period and
scope, quality reviews, and exports (Excel, PDF, CSV) with the audit trail. No Streamlit here (see dashboard/)."""
