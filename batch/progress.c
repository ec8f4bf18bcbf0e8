/* progress.c: the progress reporter (see progress.h). */
#include "batch/progress.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

#define POLL_EVERY_S 1.0
/* A read may take at most this share of the time between reads (a run of a
 * million tasks takes a third of a second to count): big runs are read less
 * often rather than loading the store. */
#define POLL_LOAD_MAX 0.2
#define RATE_SAMPLES 64
#define RATE_WINDOW_S 60.0

struct progress {
	FILE *out;                 /* borrowed */
	enum progress_mode mode;
	long run_id;
	double interval_s;
	double last_read;          /* monotonic seconds of the last store read; 0: never */
	double gap;                /* seconds to wait between reads */
	double last_line;          /* of the last plain or JSON line */
	bool have;                 /* snap holds a read */
	bool shown;                /* the last read has been printed */
	/* Recent reads (monotonic time, tasks worked), oldest first, for the
	 * rate: the first read counts the last minute in the store, later
	 * ones only by state (cheaper), and the rate comes from these. */
	struct { double t; long worked; } samples[RATE_SAMPLES];
	int n_samples;
	struct run_snapshot snap;
};

enum progress_mode progress_mode_for(FILE *out, bool json)
{
	const char *term = getenv("TERM");

	if (json)
		return PROGRESS_JSON;
	if (isatty(fileno(out)) && !(term && strcmp(term, "dumb") == 0))
		return PROGRESS_TTY;
	return PROGRESS_PLAIN;
}

struct progress *progress_open(FILE *out, enum progress_mode mode, long run_id)
{
	struct progress *p = calloc(1, sizeof *p);

	if (!p)
		return NULL;
	p->out = out;
	p->mode = mode;
	p->run_id = run_id;
	p->interval_s = 10;
	p->gap = POLL_EVERY_S;
	return p;
}

void progress_set_interval(struct progress *p, double seconds)
{
	p->interval_s = seconds < 0.2 ? 0.2 : seconds;
}

bool progress_ended(const struct progress *p)
{
	return p->have && p->snap.ended;
}

const struct run_snapshot *progress_last(const struct progress *p)
{
	return p->have ? &p->snap : NULL;
}

static double eta_s(const struct run_snapshot *s)
{
	double rate = s->rate;

	if (s->remaining == 0)
		return 0;
	if (s->ended || rate <= 0)
		return -1;
	return (double)s->remaining / rate;
}

void progress_format_line(const struct run_snapshot *s, char *out, size_t cap)
{
	char eta[16], took[16];
	double pct = s->total ? 100.0 * (double)s->finished / (double)s->total : 0;
	size_t n;

	run_format_duration(eta_s(s), eta);
	run_format_duration(s->age_s, took);
	n = (size_t)snprintf(out, cap, "%s %ld: %ld/%ld tasks (%.0f%%), %.1f/s, ", s->kind, s->run_id,
			     s->finished, s->total, pct, s->rate);
	if (n < cap && s->ended)
		n += (size_t)snprintf(out + n, cap - n, "%s after %s", s->status, took);
	else if (n < cap)
		n += (size_t)snprintf(out + n, cap - n, "eta %s", eta);
	if (n < cap && s->has_budget)
		n += (size_t)snprintf(out + n, cap - n, ", cost %.4f of %.2f", s->cost, s->budget);
	else if (n < cap)
		n += (size_t)snprintf(out + n, cap - n, ", cost %.4f", s->cost);
	if (n < cap)
		n += (size_t)snprintf(out + n, cap - n, ", %ld failed", s->failures);
	if (n < cap && s->bad_records)
		n += (size_t)snprintf(out + n, cap - n, ", %ld bad records", s->bad_records);
	if (n < cap && s->count[RS_CANCELLED])
		n += (size_t)snprintf(out + n, cap - n, ", %ld cancelled", s->count[RS_CANCELLED]);
	if (n < cap && !s->ended && s->heartbeat_age_s > PROGRESS_STALE_S) {
		char beat[16];

		run_format_duration(s->heartbeat_age_s, beat);
		snprintf(out + n, cap - n, ", no heartbeat for %s", beat);
	}
}

static void print_json(struct progress *p, const char *event)
{
	const struct run_snapshot *s = &p->snap;
	json_t *o, *counts = json_object();
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	double eta = eta_s(s);

	gmtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (int i = 0; i < RS_N; i++)
		if (i != RS_OTHER || s->count[i])
			json_object_set_new(counts, run_state_name((enum run_state)i), json_integer(s->count[i]));
	o = json_pack("{s:s, s:I, s:s, s:s, s:o, s:I, s:I, s:f, s:o, s:f, s:o, s:I, s:I, s:f}",
		      "event", event, "run_id", (json_int_t)s->run_id, "ts", ts, "status", s->status,
		      "counts", counts, "total", (json_int_t)s->total, "finished", (json_int_t)s->finished,
		      "rate", round(s->rate * 100) / 100,
		      "eta_s", eta >= 0 ? json_integer((json_int_t)lround(eta)) : json_null(),
		      "cost", s->cost, "budget", s->has_budget ? json_real(s->budget) : json_null(),
		      "failures", (json_int_t)s->failures, "bad_records", (json_int_t)s->bad_records,
		      "heartbeat_age_s", round(s->heartbeat_age_s * 10) / 10);
	if (o) {
		json_dumpf(o, p->out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
		fputc('\n', p->out);
		json_decref(o);
	}
	fflush(p->out);
}

static void print_tty(struct progress *p)
{
	char line[512];
	struct winsize ws;
	size_t n;

	progress_format_line(&p->snap, line, sizeof line);
	/* A line longer than the terminal would wrap and \r could not redraw it. */
	n = strlen(line);
	if (ioctl(fileno(p->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 && n >= ws.ws_col)
		line[ws.ws_col - 1] = '\0';
	fprintf(p->out, "\r\033[K%s", line);
	fflush(p->out);
	p->shown = true;
}

static void print_plain(struct progress *p)
{
	char line[512];

	progress_format_line(&p->snap, line, sizeof line);
	fprintf(p->out, "%s\n", line);
	fflush(p->out);
	p->shown = true;
}

static void add_sample(struct progress *p, double t, long worked)
{
	if (p->n_samples == RATE_SAMPLES) {
		memmove(p->samples, p->samples + 1, (RATE_SAMPLES - 1) * sizeof *p->samples);
		p->n_samples--;
	}
	p->samples[p->n_samples].t = t;
	p->samples[p->n_samples].worked = worked;
	p->n_samples++;
}

/* Tasks per second since the oldest sample of the last minute; the previous
 * rate while the samples span under a second. */
static double sampled_rate(const struct progress *p, double t, long worked)
{
	for (int i = 0; i < p->n_samples; i++) {
		double dt = t - p->samples[i].t;

		if (dt > RATE_WINDOW_S)
			continue;
		if (dt < 1)
			break;
		return worked > p->samples[i].worked ? (double)(worked - p->samples[i].worked) / dt : 0;
	}
	return p->snap.rate;
}

int progress_poll(struct progress *p, struct store *st, bool force, struct err *e)
{
	double t = clock_mono_s();
	bool first = !p->have, was_ended = p->have && p->snap.ended;
	struct run_snapshot snap;

	if (!force && p->last_read && t - p->last_read < p->gap)
		return 0;
	if (run_snapshot_load(st, p->run_id, !p->have, &snap, e) < 0)
		return -1;
	if (p->have && !snap.ended)
		snap.rate = sampled_rate(p, t, snap.worked);
	add_sample(p, t, snap.worked);
	p->gap = (clock_mono_s() - t) / POLL_LOAD_MAX;
	if (p->gap < POLL_EVERY_S)
		p->gap = POLL_EVERY_S;
	p->snap = snap;
	p->have = true;
	p->shown = false;
	p->last_read = t;
	if (p->mode == PROGRESS_TTY) {
		print_tty(p);
		return 0;
	}
	if (force || first || (snap.ended && !was_ended) || t - p->last_line >= p->interval_s) {
		p->last_line = t;
		if (p->mode == PROGRESS_JSON)
			print_json(p, "progress");
		else
			print_plain(p);
	}
	return 0;
}

void progress_hook(const struct run_counts *c, void *hook)
{
	struct progress_hook *h = hook;

	(void)c;
	progress_poll(h->p, h->st, false, &h->e);
}

void progress_close(struct progress *p)
{
	if (!p)
		return;
	if (p->have) {
		switch (p->mode) {
		case PROGRESS_TTY:
			print_tty(p);
			fputc('\n', p->out);
			break;
		case PROGRESS_PLAIN:
			if (!p->shown)
				print_plain(p);
			break;
		case PROGRESS_JSON:
			print_json(p, p->snap.ended ? "end" : "stop");
			break;
		}
		fflush(p->out);
	}
	free(p);
}
