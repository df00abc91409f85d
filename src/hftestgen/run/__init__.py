"""Running the generated suite and remembering the results, one concern per module:

* ``runner``: ``hftestgen run`` (options, selection, the run, exit code, reports, history);
* ``shards``: ``-n`` / ``--shard`` parsing and the balanced split of types into shards;
* ``collect``: which generated file tests which type (``CASE`` read with ``ast``);
* ``pytest_proc``: the pytest subprocess (or warm-server fork), its live progress and log;
* ``summary``: the summary printed after a run and its history record;
* ``merge``: ``hftestgen report`` (rebuild a report, merge shard folders);
* ``verify``: ``hftestgen generate --verify``;
* ``pytest_plugin``: the pytest plugin that records one JSON line per test;
* ``warm``: the warm pytest server;
* ``history``: the SQLite run history.
"""
