#!/usr/bin/env bash
# Run the demo site on SQLite (or DBSESSIONS_DB=postgresql|mysql) at http://127.0.0.1:8000/.
#
#   ./scripts/demo.sh [RUNSERVER OPTIONS...]      e.g. ./scripts/demo.sh --noreload
#
# Builds .venv if needed (the package and Django only), migrates, makes sure the superuser
# demo / demo-password exists, then starts runserver. DEMO_ADDR changes the address.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh

BOOTSTRAP_GROUPS="" VENV_DIR=.venv bootstrap_venv python3
python="$BOOTSTRAP_VENV/bin/python"
addr="${DEMO_ADDR:-127.0.0.1:8000}"

"$python" manage.py migrate --noinput
"$python" manage.py shell -v 0 -c '
from django.contrib.auth import get_user_model

user, _ = get_user_model().objects.get_or_create(username="demo")
user.is_staff = user.is_superuser = user.is_active = True
user.set_password("demo-password")
user.save()
'

cat <<MSG

  dbsessions demo: http://$addr/
  Log in (site and admin at http://$addr/admin/) as:
      user:     demo
      password: demo-password

MSG
exec "$python" manage.py runserver "$addr" "$@"
