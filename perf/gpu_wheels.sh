#!/usr/bin/env bash
# The wheels perf/gpu_session.py needs on a lent GPU machine, into .whl/ (git-ignored), for its
# Python 3.12 (docs/performance.md, 'On a GPU'). That machine has torch, numpy, scipy, pandas,
# matplotlib, seaborn, jinja2 and no network: this fetches our other dependencies and theirs,
# minus what it has, and builds pesq (no 3.12 wheel on the registry) with a local python3.12.
set -euo pipefail
cd "$(dirname "$0")/.."
all=$(mktemp -d)
plat=()
for p in manylinux_2_17 manylinux2014 manylinux1 manylinux_2_24 manylinux_2_27 manylinux_2_28 manylinux_2_31 manylinux_2_34; do
  plat+=(--platform "${p}_x86_64")
done
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp "${plat[@]}" -d "$all" \
  mlflow==3.17.2 optuna==5.0.0 pystoi soundfile omegaconf espeakng-loader
py312=""
for c in python3.12 /root/.pyenv/versions/3.12*/bin/python3.12; do   # a pyenv shim may not run: try each
  if "$c" -c "" 2>/dev/null; then py312=$c; break; fi
done
[ -n "$py312" ] || { echo "error: no python3.12 here to build pesq's wheel with" >&2; exit 1; }
"$py312" -m pip wheel -q --no-deps -w "$all" pesq==0.0.4
# already on the GPU machine's image (/work/.library/device/KINDS.md, 'Python packages already there')
have='^(aiohappyeyeballs|aiohttp|aiosignal|anyio|attrs|certifi|charset_normalizer|click|cloudpickle|contourpy|cycler|'
have+='filelock|fonttools|frozenlist|fsspec|h11|idna|jinja2|joblib|kiwisolver|markdown|markupsafe|matplotlib|'
have+='multidict|narwhals|numpy|packaging|pandas|pillow|propcache|protobuf|pyarrow|pyparsing|python_dateutil|pyyaml|'
have+='requests|scikit_learn|scipy|seaborn|six|threadpoolctl|tqdm|typing_extensions|urllib3|werkzeug|yarl|'
have+='sqlalchemy_is_not_there)-'
rm -rf .whl && mkdir .whl
for f in "$all"/*.whl; do
  name=$(basename "$f" | tr 'A-Z' 'a-z')
  [[ $name =~ $have ]] || cp "$f" .whl/
done
du -sh .whl
