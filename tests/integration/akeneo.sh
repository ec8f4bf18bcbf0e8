# akeneo.sh: a catalog in Akeneo (the fake PIM): skugen run reads it through
# OAuth and search_after pages, maps values by locale and scope, reads only
# what changed on the next run, and publish PATCHes the approved copy back,
# one status per product.
. "$(dirname "$0")/lib.sh"
new_db akeneo
cd "$SCRATCH"

uuid() { printf '%08d-0000-4000-8000-000000000000' "$1"; }
for i in 1 2 3 4 5; do
	printf '{"uuid": "%s", "identifier": "A-%d", "enabled": true, "family": "lamps", "categories": ["lighting"], "updated": "2026-01-0%dT10:00:00+00:00", "values": {"sku": [{"locale": null, "scope": null, "data": "A-%d"}], "name": [{"locale": "en_US", "scope": null, "data": "Lamp %d"}, {"locale": "de_DE", "scope": null, "data": "Leuchte %d"}], "colour": [{"locale": null, "scope": null, "data": "brass"}], "description": [{"locale": "en_US", "scope": "ecommerce", "data": ""}]}}\n' \
		"$(uuid "$i")" "$i" "$i" "$i" "$i" "$i"
done >products.jsonl
# A product without its identifier value: a clear per-record error.
printf '{"uuid": "%s", "enabled": true, "family": "lamps", "categories": [], "updated": "2026-01-06T10:00:00+00:00", "values": {"name": [{"locale": "en_US", "scope": null, "data": "Nameless"}]}}\n' "$(uuid 6)" >>products.jsonl

start_fake fake_akeneo --products products.jsonl --token-ttl 3600 \
	--attribute sku=pim_catalog_identifier --attribute name=pim_catalog_text:localizable \
	--attribute description=pim_catalog_textarea:localizable:scopable
export AKENEO_CLIENT_ID=client AKENEO_SECRET=secret AKENEO_USERNAME=admin AKENEO_PASSWORD=admin

mkdir -p templates/description
printf 'The {{name}} in {{colour}} ({{family}}).' >templates/description/default.mustache
cat >skugen.json <<JSON
{
  "source": {"type": "akeneo", "base_url": "$base", "locale": "en_US", "scope": "ecommerce",
             "identifier": "sku", "page_size": 2},
  "locales": ["en_US"],
  "generators": {"rules": {"type": "template"}},
  "outputs": [{"name": "description", "generator": "rules",
               "target": {"attribute": "description", "locale": "{locale}", "scope": "ecommerce"},
               "overwrite": "never"}]
}
JSON

run_skugen run
t_is "a run over Akeneo with one bad product exits 1" "$RC" 1
t_match "every product is read, through pages of two" "$OUT" "6 records \(1 bad\), 5 tasks: 5 generated"
t_match "the bad product is named" "$ERR" "akeneo:$(uuid 6)"
t_is "values are mapped by locale, the family carried along" \
	"$(sql "select content from skugen.generations where sku = 'A-3'")" "The Lamp 3 in brass (lamps)."
t_is "the client authenticated once with the password grant" "$(curl -s "$base/_fake/stats" | jq .token_password)" 1
t_ok "the watermark is the last product's update" test -n "$(sql "select value from skugen.watermarks")"

run_skugen run
t_match "the next run reads nothing unchanged" "$OUT" "0 generated"

sql "update skugen.generations set status = 'approved'" >/dev/null
run_skugen publish
t_is "publish to Akeneo exits 0" "$RC" 0
t_match "the descriptions are PATCHed" "$OUT" "publish: 5 written"
t_is "the fake holds the new description" \
	"$(curl -s "$base/_fake/products/$(uuid 2)" | jq -r '.values.description[] | select(.locale == "en_US") | .data')" "The Lamp 2 in brass (lamps)."
t_is "five products in one PATCH request" "$(curl -s "$base/_fake/stats" | jq '"\(.patch_requests) \(.patch_lines)"' -r)" "1 5"
run_skugen publish
t_match "publishing again writes nothing" "$OUT" "publish: 0 written"

t_done
