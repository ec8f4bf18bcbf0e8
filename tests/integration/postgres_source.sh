# postgres_source.sh: a catalog kept in the retailer's own Postgres: the
# nightly run reads only what changed since the last successful run, --full
# and --since override it, disabled products are filtered out, SQL
# metacharacters in SKUs are harmless, and publish writes back into a JSONB
# column without trampling what people wrote.
. "$(dirname "$0")/lib.sh"
new_db pgsource
cd "$SCRATCH"
export CATALOG_DSN="$SKUGEN_DSN"

sql "create schema shop;
create table shop.products (
  sku text primary key, name text not null, brand text, colour text, status text not null default 'active',
  copy jsonb, updated_at timestamptz not null default now());
insert into shop.products (sku, name, brand, colour, status, updated_at) values
  ('S-1', 'Scarf', 'Nordwand', 'red', 'active', '2026-01-01 10:00:00+00'),
  ('S-2', 'Stool', 'Holz & Co', 'oak', 'active', '2026-01-01 10:00:00+00'),
  ('S-3''; drop table shop.products; --', 'Sneaker \"Quote\"', 'Laufwerk', 'white', 'active', '2026-01-01 10:00:00+00'),
  ('S-4', 'Retired sofa', 'Old', 'grey', 'disabled', '2026-01-01 10:00:00+00');" >/dev/null

mkdir -p templates/title
printf '{{brand}} {{name}} in {{colour}}' >templates/title/default.mustache
cat >skugen.json <<'JSON'
{
  "source": {"type": "postgres", "dsn_env": "CATALOG_DSN", "table": "shop.products", "key": "sku",
             "watermark": "updated_at", "where": "status <> 'disabled'"},
  "locales": ["en_US", "de_DE"],
  "generators": {"rules": {"type": "template"}},
  "outputs": [{"name": "title", "generator": "rules",
               "target": {"table": "shop.products", "key": "sku", "column": "copy", "json_key": "title_{locale}"},
               "overwrite": "if_generated", "publish": "auto"}]
}
JSON

run_skugen run
t_is "the first run over the Postgres catalog exits 0" "$RC" 0
t_match "it reads the active products only" "$OUT" "3 records \(0 bad\), 6 tasks: 6 generated"
t_is "the watermark is kept" "$(sql "select value from skugen.watermarks")" "2026-01-01 10:00:00+00"
t_is "a SKU full of SQL is just a SKU" \
	"$(sql "select content from skugen.generations where sku like 'S-3%' and locale = 'en_US'")" 'Laufwerk Sneaker "Quote" in white'
t_is "the catalog table is intact" "$(sql "select count(*) from shop.products")" 4
t_is "auto publish wrote the titles into the JSONB column" \
	"$(sql "select copy->>'title_de_DE' from shop.products where sku = 'S-2'")" "Holz & Co Stool in oak"

run_skugen run
t_match "the next run reads nothing unchanged" "$OUT" "0 records \(0 bad\), 0 tasks"
t_is "it says where it starts" "$(printf '%s' "$ERR" | grep -c 'reading what changed after 2026-01-01 10:00:00+00')" 1

sql "update shop.products set colour = 'blue', updated_at = '2026-02-01 08:00:00+00' where sku = 'S-1'" >/dev/null
run_skugen run
t_match "a changed product is read alone" "$OUT" "1 records \(0 bad\), 2 tasks: 2 generated"
t_is "the watermark moves on" "$(sql "select value from skugen.watermarks")" "2026-02-01 08:00:00+00"
t_is "the new title is published over skugen's own" \
	"$(sql "select copy->>'title_en_US' from shop.products where sku = 'S-1'")" "Nordwand Scarf in blue"

# A merchandiser rewrites S-2's German title by hand; skugen must keep it.
sql "update shop.products set copy = jsonb_set(copy, '{title_de_DE}', '\"Handgeschrieben\"'), brand = 'Holz und Co', updated_at = '2026-03-01 00:00:00+00' where sku = 'S-2'" >/dev/null
run_skugen run
t_is "a refused write makes the run exit 1" "$RC" 1
t_match "if_generated refuses the hand-written value and writes the other" "$OUT" "publish: 1 written, 0 already there, 1 refused"
t_is "the hand-written title survives" "$(sql "select copy->>'title_de_DE' from shop.products where sku = 'S-2'")" "Handgeschrieben"
t_is "the refusal is recorded" "$(sql "select count(*) from skugen.publications where status = 'refused' and sku = 'S-2'")" 1

run_skugen run --full
t_match "--full reads every active product again" "$OUT" "3 records \(0 bad\), 6 tasks: 0 generated, 6 unchanged"
run_skugen run --since "2026-01-15 00:00:00+00"
t_match "--since reads what changed after it" "$OUT" "2 records"

t_done
