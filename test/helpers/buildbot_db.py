"""Prints a buildbot master's builds as JSON: results, steps, properties and log text.

Usage: python3 buildbot_db.py MASTER_DIR   (reads MASTER_DIR/state.sqlite)
"""
import bz2
import json
import sqlite3
import sys
import zlib

db = sqlite3.connect(sys.argv[1] + '/state.sqlite')
builds = []
for build_id, number, result, complete in db.execute('select id, number, results, complete_at from builds order by id'):
    steps = [{'name': n, 'results': r} for n, r in db.execute('select name, results from steps where buildid=? order by number', (build_id,))]
    props = {k: json.loads(v) for k, v in db.execute('select name, value from build_properties where buildid=?', (build_id,))}
    logs = {}
    for log_id, step_name in db.execute('select l.id, s.name from logs l join steps s on s.id = l.stepid where s.buildid=?', (build_id,)):
        text = b''
        for content, compressed in db.execute('select content, compressed from logchunks where logid=? order by first_line', (log_id,)):
            if compressed == 1:
                content = zlib.decompress(content)
            elif compressed == 2:
                content = bz2.decompress(content)
            text += content
        logs[step_name] = logs.get(step_name, '') + text.decode('utf-8', 'replace')
    builds.append({'number': number, 'results': result, 'complete': complete is not None, 'steps': steps, 'properties': props, 'logs': logs})
print(json.dumps(builds))
