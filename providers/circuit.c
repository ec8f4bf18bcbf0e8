/* circuit.c: a circuit breaker per provider.
 *
 * Closed: calls go.  After `threshold` consecutive unhealthy attempts (5xx,
 * 529, timeouts, broken connections: the provider is having a bad day, not
 * the request) it opens: calls fail at once with PROV_CIRCUIT_OPEN, so that
 * the batch engine can take its fallback instead of queueing behind a dead
 * service.  After the cooldown it is half-open: one call, the probe, goes;
 * the others still fail fast.  A healthy probe closes it; an unhealthy one
 * opens it for another cooldown.  Any healthy answer (even a 400: the
 * provider is up) resets the count.
 */
#include "providers/prov_int.h"

#include <stdio.h>
#include <string.h>

void prov_circuit_init(struct prov_circuit *c, int threshold, double cooldown_ms)
{
	memset(c, 0, sizeof *c);
	c->threshold = threshold;
	c->cooldown_ms = cooldown_ms;
	c->state = PROV_CB_CLOSED;
}

bool prov_circuit_available(const struct prov_circuit *c, double now)
{
	switch (c->state) {
	case PROV_CB_CLOSED:
		return true;
	case PROV_CB_OPEN:
		return now >= c->opened_ms + c->cooldown_ms;
	case PROV_CB_HALF_OPEN:
		return !c->probe_out;
	}
	return false;
}

enum prov_cb_admit prov_circuit_admit(struct prov_circuit *c, double now)
{
	if (c->state == PROV_CB_CLOSED)
		return PROV_CB_YES;
	if (!prov_circuit_available(c, now))
		return PROV_CB_NO;
	c->state = PROV_CB_HALF_OPEN;
	c->probe_out = true;
	return PROV_CB_PROBE;
}

static void trip(struct prov_circuit *c, const char *msg, double now)
{
	c->state = PROV_CB_OPEN;
	c->opened_ms = now;
	c->probe_out = false;
	snprintf(c->last, sizeof c->last, "%s", msg ? msg : "");
}

void prov_circuit_record(struct prov_circuit *c, bool probe, bool healthy, const char *msg, double now)
{
	if (probe)
		c->probe_out = false;
	if (healthy) {
		c->failures = 0;
		if (probe || c->state == PROV_CB_HALF_OPEN)
			c->state = PROV_CB_CLOSED;
		return;
	}
	c->failures++;
	if (probe) {
		trip(c, msg, now);
		return;
	}
	if (c->state == PROV_CB_CLOSED && c->threshold > 0 && c->failures >= c->threshold)
		trip(c, msg, now);
}
