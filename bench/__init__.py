"""`make bench`: measured figures, each row beside its floor, printed as a table.

Each row runs in its own process per database (so peak memory is the row's
own and each database has a fresh schema); data sets are cached under
var/bench/.
"""
