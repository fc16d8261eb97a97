#!/bin/sh
# Runs before `npm test` (npm's pretest hook): the suite reads listeners with `ss` and `ip`
# (Debian: iproute2), makes network namespaces with `unshare` (util-linux), makes the live TLS
# test's certificate with `openssl` (openssl), opens the HTML report in headless Chromium
# (chromium), and applies the advice to real servers (nginx-light, redis-server, haproxy,
# memcached, apache2, gunicorn, python3-uvicorn, golang-go, postgresql, tomcat10), and checks the
# metrics report with `promtool` and a real Pushgateway scraped by Prometheus (prometheus,
# prometheus-pushgateway). Installs what is missing when it can (root with apt-get); otherwise
# says what the affected tests will do.
missing=""
command -v ss >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
command -v unshare >/dev/null 2>&1 || missing="$missing util-linux"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -x /usr/sbin/nginx ] || missing="$missing nginx-light"
[ -x /usr/bin/redis-server ] || missing="$missing redis-server"
[ -x /usr/sbin/haproxy ] || missing="$missing haproxy"
[ -x /usr/bin/memcached ] || missing="$missing memcached"
[ -x /usr/sbin/apache2 ] || missing="$missing apache2"
[ -x /usr/bin/gunicorn ] || missing="$missing gunicorn"
/usr/bin/python3 -c 'import uvicorn' >/dev/null 2>&1 || missing="$missing python3-uvicorn"
command -v go >/dev/null 2>&1 || missing="$missing golang-go"
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing="$missing postgresql"
[ -x /usr/share/tomcat10/bin/catalina.sh ] || missing="$missing tomcat10"
[ -x /usr/bin/promtool ] && [ -x /usr/bin/prometheus ] || missing="$missing prometheus"
[ -x /usr/bin/prometheus-pushgateway ] || missing="$missing prometheus-pushgateway"
# The gallery's real-server incidents (reproduce NAME): servers above, run with nsenter
# (util-linux) in a namespace whose sysctls are set with sysctl (procps).
command -v nsenter >/dev/null 2>&1 || missing="$missing util-linux"
command -v sysctl >/dev/null 2>&1 || missing="$missing procps"
# kubectl renders the Kubernetes example (kubectl kustomize, offline). Debian does not package it;
# these machines have it preinstalled. Without it those tests skip (with CI=true they fail).
command -v kubectl >/dev/null 2>&1 || echo "note: kubectl is missing and not in Debian (https://kubernetes.io/docs/tasks/tools/): the Kubernetes example's tests skip (with CI=true they fail)"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages for the tests:$missing"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
else
  echo "note: missing$missing (needs root + apt-get to install): listener tests fall back to /proc or skip, the TLS, browser, real-server and Prometheus tests skip (with CI=true they fail)"
fi
exit 0
