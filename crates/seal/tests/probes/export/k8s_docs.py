# The YAML documents of a file as one JSON list (run with kubernetes-validate's venv, which has
# PyYAML): what `seal export k8s` printed, as kubectl would read it.
import json
import sys

import yaml

with open(sys.argv[1]) as f:
    print(json.dumps([d for d in yaml.safe_load_all(f) if d is not None]))
