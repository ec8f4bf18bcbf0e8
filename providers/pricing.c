/* pricing.c: the price table of each provider and what a usage costs.
 *
 * "prices": {"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6,
 *                            "cached_per_mtok": 0.075},
 *            "fal-ai/flux/dev": {"per_image": 0.025},
 *            "*": {...}}                       the default for other models
 * Amounts are in the configuration's currency.  A model is priced per image
 * or per video second, not both: the units a call reports are one or the
 * other.
 */
#include "providers/prov_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const price_keys[] = {
	"input_per_mtok", "output_per_mtok", "cached_per_mtok", "per_image",
	"per_video_second", "per_request", NULL,
};

int prov_prices_parse(struct prov_provider *pv, const json_t *prices, const char *path, struct err *e)
{
	const char *model;
	json_t *v;

	if (!json_is_object(prices))
		return err_set(e, ERR_CONFIG, "%s: expected an object of models", path);
	pv->priced = true;
	pv->prices = calloc(json_object_size(prices) + 1, sizeof *pv->prices);
	if (!pv->prices)
		return err_set(e, ERR_NOMEM, "out of memory");
	json_object_foreach((json_t *)prices, model, v) {
		struct prov_price *pr = &pv->prices[pv->n_prices];
		char mpath[512];
		const char *k;
		json_t *kv;

		snprintf(mpath, sizeof mpath, "%s.%s", path, model);
		if (!json_is_object(v))
			return err_set(e, ERR_CONFIG, "%s: expected an object", mpath);
		json_object_foreach(v, k, kv) {
			size_t i;

			for (i = 0; price_keys[i] && strcmp(price_keys[i], k) != 0; i++)
				;
			if (!price_keys[i])
				return err_set(e, ERR_CONFIG, "%s.%s: unknown key (expected one of input_per_mtok, "
					       "output_per_mtok, cached_per_mtok, per_image, per_video_second, "
					       "per_request)", mpath, k);
		}
		if (prov_cfg_number(v, mpath, "input_per_mtok", 0, 0, 1e9, &pr->input, e) < 0 ||
		    prov_cfg_number(v, mpath, "output_per_mtok", 0, 0, 1e9, &pr->output, e) < 0 ||
		    prov_cfg_number(v, mpath, "cached_per_mtok", -1, -1, 1e9, &pr->cached, e) < 0 ||
		    prov_cfg_number(v, mpath, "per_image", 0, 0, 1e9, &pr->per_image, e) < 0 ||
		    prov_cfg_number(v, mpath, "per_video_second", 0, 0, 1e9, &pr->per_video_second, e) < 0 ||
		    prov_cfg_number(v, mpath, "per_request", 0, 0, 1e9, &pr->per_request, e) < 0)
			return -1;
		if (json_object_get(v, "cached_per_mtok") && pr->cached < 0)
			return err_set(e, ERR_CONFIG, "%s.cached_per_mtok: expected a number >= 0", mpath);
		if (pr->per_image > 0 && pr->per_video_second > 0)
			return err_set(e, ERR_CONFIG, "%s: set per_image or per_video_second, not both", mpath);
		pr->model = strdup(model);
		if (!pr->model)
			return err_set(e, ERR_NOMEM, "out of memory");
		pv->n_prices++;
	}
	return 0;
}

const struct prov_price *prov_price_find(const struct prov_provider *pv, const char *model)
{
	const struct prov_price *star = NULL;

	for (size_t i = 0; i < pv->n_prices; i++) {
		if (strcmp(pv->prices[i].model, model) == 0)
			return &pv->prices[i];
		if (strcmp(pv->prices[i].model, "*") == 0)
			star = &pv->prices[i];
	}
	return star;
}

double prov_price_apply(const struct prov_price *pr, long long tin, long long tout,
			long long tcached, double units)
{
	double cached_rate, uncached;

	if (!pr)
		return 0;
	cached_rate = pr->cached >= 0 ? pr->cached : pr->input;
	if (tcached > tin)
		tcached = tin;
	uncached = (double)(tin - tcached);
	return (uncached * pr->input + (double)tcached * cached_rate + (double)tout * pr->output) / 1e6 +
	       units * (pr->per_image + pr->per_video_second) + pr->per_request;
}

int prov_price(const struct prov_pool *p, const char *provider, const char *model,
	       long long tokens_in, long long tokens_out, long long tokens_cached,
	       double units, double *cost, struct err *e)
{
	const struct prov_provider *pv = NULL;
	const struct prov_price *pr;

	for (size_t i = 0; provider && i < p->n_pv; i++)
		if (strcmp(p->pv[i]->name, provider) == 0)
			pv = p->pv[i];
	if (!pv)
		return err_set(e, ERR_INPUT, "no provider \"%s\" is configured", provider ? provider : "(null)");
	if (!pv->priced) {
		*cost = 0;
		return 0;
	}
	pr = model ? prov_price_find(pv, model) : NULL;
	if (!pr)
		return err_set(e, ERR_INPUT, "providers.%s.prices: no price for model \"%s\"", pv->name,
			       model ? model : "(null)");
	if (tokens_in < 0 || tokens_out < 0 || tokens_cached < 0 || units < 0)
		return err_set(e, ERR_INPUT, "prices: negative usage");
	*cost = prov_price_apply(pr, tokens_in, tokens_out, tokens_cached, units);
	return 0;
}
