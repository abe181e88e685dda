#!/bin/sh
# Tour handler: "deploys" the pushed ref, unless the downstream is down.
if [ -f .hookgate-tour-down ]; then
  echo "deploy target unreachable" >&2
  exit 75
fi
echo "deployed $1 for $HOOKGATE_EVENT_ID (generation $HOOKGATE_GENERATION)"
