#!/usr/bin/env bash
# Checks a sweep's report.html in a real browser (headless Chromium): the page loads without a
# console error or script error, and every figure (an inline <svg>) is in the DOM and rendered with
# a non-zero size. Takes a screenshot of the page to look at.
#
#   scripts/check-report-html.sh DIR/report.html [SCREENSHOT.png]
#
# Needs Debian's chromium (`apt-get install -y chromium`; `INITDIAG_BROWSER=1 scripts/setup.sh`
# installs it). Prints one line `report.html: N figures, all rendered, no console errors` and
# exits 0, or says what failed and exits 1.
set -euo pipefail
html=${1:?usage: scripts/check-report-html.sh DIR/report.html [SCREENSHOT.png]}
[ -f "$html" ] || { echo "$html: no such file" >&2; exit 2; }
shot=${2:-${html%.html}.png}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium not found: apt-get install -y chromium (or INITDIAG_BROWSER=1 scripts/setup.sh)" >&2; exit 2; }
dir=$(cd "$(dirname "$html")" && pwd)
expected=$(grep -o '<svg ' "$html" | wc -l)

# A copy beside the original (so relative links resolve the same), with a probe appended before
# </body>: it records script errors and console.error calls, measures every <svg>, and writes the
# result into the DOM, which --dump-dom prints.
probe="$dir/.report-check-$$.html"
profile=$(mktemp -d)
trap 'rm -f "$probe"; rm -rf "$profile"' EXIT
script='<script>(function(){var errs=[];window.addEventListener("error",function(e){errs.push(String(e.message))});var ce=console.error;console.error=function(){errs.push(Array.prototype.join.call(arguments," "));ce.apply(console,arguments)};function report(){var s=document.querySelectorAll("svg"),bad=[];for(var i=0;i<s.length;i++){var r=s[i].getBoundingClientRect();var drawn=s[i].querySelectorAll("path,polyline,line,rect,text,circle").length;if(!(r.width>0&&r.height>0)||drawn==0)bad.push(i)}var d=document.createElement("pre");d.id="initdiag-check";d.textContent="INITDIAG-CHECK svgs="+s.length+" unrendered="+bad.length+(bad.length?" ["+bad.join(",")+"]":"")+" errors="+errs.length+(errs.length?" "+JSON.stringify(errs):"");document.body.appendChild(d)}if(document.readyState==="complete")report();else window.addEventListener("load",report)})();</script>'
sed "s#</body>#${script//&/\\&}</body>#" "$html" > "$probe"

flags=(--headless --disable-gpu --no-sandbox --user-data-dir="$profile" --allow-file-access-from-files
       --virtual-time-budget=5000 --enable-logging=stderr --v=0)
dom=$("$browser" "${flags[@]}" --dump-dom "file://$probe" 2>"$profile/stderr.txt" || true)
line=$(printf '%s\n' "$dom" | grep -o 'INITDIAG-CHECK svgs=[0-9][^<]*' | head -1 || true)
"$browser" "${flags[@]}" --window-size=1280,2400 --screenshot="$shot" "file://$html" >/dev/null 2>>"$profile/stderr.txt" || true
console=$(grep -E 'CONSOLE|Uncaught|ERR_FILE_NOT_FOUND|Failed to load' "$profile/stderr.txt" || true)

fail=0
if [ -z "$line" ]; then echo "$html: the probe wrote nothing (page did not load?)"; fail=1; else
  echo "browser: $line (expected $expected svgs)"
  svgs=$(sed -n 's/.*svgs=\([0-9]*\).*/\1/p' <<<"$line")
  unrendered=$(sed -n 's/.*unrendered=\([0-9]*\).*/\1/p' <<<"$line")
  errors=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$line")
  [ "$svgs" = "$expected" ] || { echo "$html: $svgs <svg> in the DOM, $expected in the file"; fail=1; }
  [ "$unrendered" = "0" ] || { echo "$html: $unrendered figures not rendered"; fail=1; }
  [ "$errors" = "0" ] || { echo "$html: script errors"; fail=1; }
  [ "$expected" -gt 0 ] || { echo "$html: no figures"; fail=1; }
fi
if [ -n "$console" ]; then echo "$html: console messages:"; echo "$console"; fail=1; fi
[ -s "$shot" ] && echo "screenshot: $shot" || { echo "no screenshot written"; fail=1; }
if [ $fail -eq 0 ]; then echo "report.html: $expected figures, all rendered, no console errors"; fi
exit $fail
