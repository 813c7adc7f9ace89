"""GridCX pure computation core: statistics, the KPI registry and the KPI functions.

This package is pure: it imports only the standard library, numpy, pandas and scipy. It does no I/O and imports
nothing else from the project. Calendars, SLA limits and customer counts are passed in as arguments.

Modules
-------
intervals      proportion, NPS, mean and percentile intervals; grouped percentiles; bootstrap
significance   group differences and tests: Newcombe, two-proportion z, Welch, Mann-Whitney, chi-square,
               Kruskal-Wallis, Dunn, Holm / Benjamini-Hochberg
reliability    Cronbach's alpha and the Feldt interval
drivers        Johnson relative weights, Shapley/LMG R-squared decomposition, importance-performance quadrants
control        p-chart, Laney p'-chart, XmR chart
shrinkage      beta-binomial empirical Bayes, Bayesian average, case-mix observed/expected
weighting      raking (iterative proportional fitting), Kish design effect and effective n
businesstime   working minutes and working days with holidays and make-up workdays
registry       the KPI registry, ``MetricResult`` and the status rule
kpis           KPI functions over DataFrames and ``compute(kpi_key, frame, by=...)``
compare        period-over-period comparison of ``compute`` results with multiplicity adjustment
"""

from __future__ import annotations
