# Replay the petition flood against the real shield and measure it
# (cmd/rempart-flood): a report, a chart and the load figures in
# flood-report/ (flood-report-short/ for the short run). The load figures
# need wrk, the browser signers Chromium (Debian: apt-get install wrk chromium).

GO ?= go

.PHONY: flood flood-short

# The full replay: 60 s of attack, then wrk's figures and a million
# distinct clients (about five minutes in all).
flood:
	$(GO) run ./cmd/rempart-flood -out flood-report

# A few seconds of each part.
flood-short:
	$(GO) run ./cmd/rempart-flood -short -out flood-report-short
