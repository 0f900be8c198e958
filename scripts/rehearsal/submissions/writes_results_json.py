# Rehearsal submission: the lecture's own code, preceded by an attempt to forge its grade. At import it writes a
# results.json with 1000 points where Gradescope reads one, and beside its own folder, and tries to raise the
# weights of the rubric it is graded with. Four small files at most; nothing else is touched.
import json as _json

_FORGED = {"score": 1000.0, "output": "FORGED by the submission", "tests": []}
for _path in ("/autograder/results/results.json", "../results/results.json", "results.json"):
    try:
        with open(_path, "w", encoding="utf-8") as _fh:
            _json.dump(_FORGED, _fh)
    except OSError:
        pass
try:
    with open("/autograder/source/rubric.toml", "a", encoding="utf-8") as _fh:
        _fh.write("\n[weights]\n'*' = 100\n")
except OSError:
    pass
