"""Everything specific to the Wuxing demo district (吴兴区, Huzhou), and nothing else.

The rest of `geo` works for any district from its own layers and catalogues; the bundled
demo is built and fed from here:

- `geo.demo.layers`: the demo layer set (``layers/``), catalogues and alerts (``data/``),
  ``python -m geo demo build``;
- `geo.demo.catalog`, `geo.demo.checklists`: the demo catalogues' content;
- `geo.demo.inspections`, `geo.demo.cases`: the demo history (``python -m geo demo history``);
- `geo.demo.users`: the demo users with public passwords (``python -m geo demo users``);
- `geo.demo.feed`: the simulated live alerts and team movements (``python -m geo simulate``).
"""
