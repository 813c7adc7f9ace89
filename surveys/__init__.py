"""Post-service surveys: questionnaire definitions, invitations and one-time tokens, intake, IVR/SMS results,
follow-ups (回访) and response rates. No streamlit here; the customer page lives in ``dashboard/views/survey.py``.
"""
