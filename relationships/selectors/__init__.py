"""Read queries named for the screens that show them: a view calls these, then renders.

One module per screen (dashboard, people, person, sources), and cards for the
nudge cards the dashboard, the person page and the cards' own answers share.
Each function filters by the user (or by rows already fetched for the user)
itself; none writes.
"""
