-- What a data engineer would write in DuckDB for the study-level latency and backlog
-- as of T, from the same JSONL export the replay reads (bench/peer.py runs it).
-- Parameters: $path (the JSONL file), $as_of_us (T, microseconds since the epoch).
-- Table study_dashboards(study_id, dashboard, sla_us): the studies' configuration.
--
-- The contract (docs/contract.md), as SQL: a publish covers an entry of its study and
-- dashboard entered at or before its data_cutoff (snapshot) or, naming its record, at
-- or before its published_at; latency = earliest covering published_at - entered_at;
-- nearest-rank percentiles; pending as of T = entered <= T < earliest cover; overdue =
-- pending and T - entered > SLA. A line whose event id was seen on an earlier valid
-- line is a duplicate (the first wins), and invalid lines are left out.
WITH lines AS (
    SELECT row_number() OVER () AS line, *
    FROM read_json($path, format = 'newline_delimited', ignore_errors = true, columns = {
        schema: 'VARCHAR', event_id: 'VARCHAR', study_id: 'VARCHAR', site_id: 'VARCHAR',
        subject_id: 'VARCHAR', form_id: 'VARCHAR', record_id: 'VARCHAR',
        entered_at: 'VARCHAR', published_at: 'VARCHAR', data_cutoff: 'VARCHAR',
        record_ids: 'VARCHAR[]', dashboard: 'VARCHAR', query_id: 'VARCHAR',
        status: 'VARCHAR', occurred_at: 'VARCHAR'
    })
),
valid AS (
    -- The checks the contract makes on the fields used here; timestamps need an offset.
    SELECT line, event_id, schema, study_id, record_id, record_ids,
        coalesce(dashboard, 'default') AS dashboard,
        epoch_us(entered_at::TIMESTAMPTZ) AS entered,
        epoch_us(published_at::TIMESTAMPTZ) AS published,
        epoch_us(data_cutoff::TIMESTAMPTZ) AS cutoff
    FROM lines
    WHERE event_id IS NOT NULL AND study_id IS NOT NULL AND CASE schema
        WHEN 'edc.entry/1' THEN site_id IS NOT NULL AND subject_id IS NOT NULL
            AND form_id IS NOT NULL AND record_id IS NOT NULL
            AND regexp_full_match(entered_at, '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)')
        WHEN 'dashboard.publish/1' THEN
            regexp_full_match(published_at, '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)')
            AND ((record_ids IS NULL) != (data_cutoff IS NULL))
            AND (data_cutoff IS NULL OR data_cutoff::TIMESTAMPTZ <= published_at::TIMESTAMPTZ)
        WHEN 'edc.query/1' THEN query_id IS NOT NULL AND site_id IS NOT NULL
            AND status IN ('opened', 'answered', 'closed', 'cancelled')
            AND regexp_full_match(occurred_at, '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)')
        ELSE false END
),
first_seen AS (
    SELECT * FROM valid QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY line) = 1
),
entries AS (
    SELECT e.study_id, d.dashboard, d.sla_us, e.record_id, e.entered
    FROM first_seen e JOIN study_dashboards d USING (study_id)
    WHERE e.schema = 'edc.entry/1'
),
record_publishes AS (
    SELECT study_id, dashboard, unnest(record_ids) AS record_id, published
    FROM first_seen WHERE schema = 'dashboard.publish/1' AND record_ids IS NOT NULL
),
record_cover AS (
    SELECT e.study_id, e.dashboard, e.record_id, e.entered, min(p.published) AS published
    FROM (SELECT DISTINCT study_id, dashboard, record_id, entered FROM entries) e
    JOIN record_publishes p
        ON p.study_id = e.study_id AND p.dashboard = e.dashboard
        AND p.record_id = e.record_id AND p.published >= e.entered
    GROUP BY ALL
),
-- The earliest snapshot publish whose cutoff reaches t: a minimum over cutoffs >= t.
snapshots AS (
    SELECT study_id, dashboard, cutoff, min(published) OVER (
        PARTITION BY study_id, dashboard ORDER BY cutoff DESC ROWS UNBOUNDED PRECEDING
    ) AS earliest
    FROM first_seen WHERE schema = 'dashboard.publish/1' AND cutoff IS NOT NULL
),
tracked AS (
    SELECT e.study_id, e.dashboard, e.sla_us, e.entered,
        least(r.published, s.earliest) AS published
    FROM entries e
    LEFT JOIN record_cover r USING (study_id, dashboard, record_id, entered)
    ASOF LEFT JOIN snapshots s
        ON s.study_id = e.study_id AND s.dashboard = e.dashboard AND s.cutoff >= e.entered
),
latencies AS (
    SELECT study_id, dashboard, sla_us, published - entered AS latency,
        row_number() OVER (PARTITION BY study_id, dashboard ORDER BY published - entered) AS rank,
        count(*) OVER (PARTITION BY study_id, dashboard) AS n
    FROM tracked WHERE published <= $as_of_us
),
latency AS (
    -- Nearest rank: the value at rank ceil(p/100 * n).
    SELECT study_id, dashboard, count(*) AS count,
        max(latency) FILTER (WHERE rank = (n + 1) // 2) AS p50_us,
        max(latency) FILTER (WHERE rank = (95 * n + 99) // 100) AS p95_us,
        max(latency) FILTER (WHERE rank = (99 * n + 99) // 100) AS p99_us,
        max(latency) AS max_us,
        count(*) FILTER (WHERE latency <= sla_us) AS within_sla
    FROM latencies GROUP BY ALL
),
backlog AS (
    SELECT study_id, dashboard, count(*) AS pending,
        $as_of_us - min(entered) AS oldest_age_us,
        count(*) FILTER (WHERE $as_of_us - entered > sla_us) AS overdue
    FROM tracked
    WHERE entered <= $as_of_us AND (published IS NULL OR published > $as_of_us)
    GROUP BY ALL
)
SELECT study_id, dashboard,
    coalesce(l.count, 0), l.p50_us, l.p95_us, l.p99_us, l.max_us, coalesce(l.within_sla, 0),
    coalesce(b.pending, 0), b.oldest_age_us, coalesce(b.overdue, 0)
FROM latency l FULL JOIN backlog b USING (study_id, dashboard)
ORDER BY study_id, dashboard
