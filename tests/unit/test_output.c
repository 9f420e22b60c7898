/* Headless writers: JSON lines parse as JSON objects, CSV rows match the header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/snapshot.h"
#include "tests/harness.h"
#include "tui/output.h"

/* A strict-enough JSON checker: one value, balanced, strings closed, no trailing bytes. */
static const char *json_value(const char *p);
static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\n')
		p++;
	return p;
}
static const char *json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p && *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\' && !*++p)
			return NULL;
	}
	return *p == '"' ? p + 1 : NULL;
}
static const char *json_value(const char *p)
{
	p = ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				p = json_string(ws(p));
				if (!p || *(p = ws(p)) != ':')
					return NULL;
				p++;
			}
			p = json_value(p);
			if (!p)
				return NULL;
			p = ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (*p == '"')
		return json_string(p);
	if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	char *end;
	strtod(p, &end);
	return end == p ? NULL : end;
}

static struct snapshot *sample(void)
{
	static struct snapshot s;
	memset(&s, 0, sizeof(s));
	s.t = 2.0;
	s.dt = 1.0;
	s.seq = 3;
	strcpy(s.host, "pvm");
	strcpy(s.cpu_mode, "paravirt");
	strcpy(s.state, "failed");
	strcpy(s.workload, "exits");
	strcpy(s.exit_kind, "all");
	strcpy(s.reason, "guest said \"no\"\\\n");
	s.rate = 1000;
	for (unsigned k = 0; k < EK_MAX; k++) {
		figure_update(&s.exits[k][SRC_GUEST], 100 + k, 0, 1.0);
		s.exits_src[k] = SRC_GUEST;
		s.cost[k].ops = 100 + k;
		s.cost[k].avg_ns = 1234.5;
	}
	figure_update(&s.exits[EK_HLT][SRC_BPF], 500, 100, 2.0);
	s.exits_src[EK_HLT] = SRC_BPF;
	strcpy(s.stats[0].name, "exits");
	figure_update(&s.stats[0].f, 50, 10, 1.0);
	s.nr_stats = 1;
	strcpy(s.bpf_why, "eBPF probes are off: they need root");
	s.net_on = true;
	strcpy(s.nic_mode, "virtio");
	strcpy(s.backend, "tap");
	strcpy(s.netns, "vmscope-1");
	figure_update(&s.pps_tx, 3000, 1000, 1.0);
	s.latency_valid = true;
	s.latency_us[0] = 120.5;
	s.latency_hist[17] = 4;
	s.per_packet[PP_ALL] = (struct per_packet){true, 0.25, "stats"};
	s.per_packet[PP_NIC] = (struct per_packet){true, 0.125, "bpf"};
	strcpy(s.stats[1].name, "blocking");
	s.stats[1].instant = true;
	s.stats[1].f = (struct figure){true, 1, 0};
	s.nr_stats = 2;
	return &s;
}

static char *render(void (*fn)(FILE *, const struct snapshot *), const struct snapshot *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	fn(f, s);
	fclose(f);
	return buf;
}

TEST(jsonl_is_one_valid_object_per_line_with_the_documented_keys)
{
	char *j = render(out_jsonl, sample());
	const char *end = json_value(j);
	REQUIRE(end);
	CHECK(!strcmp(end, "\n"));
	CHECK(strchr(j, '\n') == j + strlen(j) - 1);
	const char *keys[] = {"\"t\":2.000", "\"cpu_mode\":\"paravirt\"", "\"host\":\"pvm\"",
			      "\"workload\":\"exits\"", "\"exits\":{\"pio_vmm\":100.000",
			      "\"sources\":{", "\"hlt\":\"bpf\"", "\"guest\":{", "\"cost_ns\":{",
			      "\"stats\":{\"exits\":40.000}", "\"bpf\":{\"on\":false",
			      "\"reason\":\"guest said \\\"no\\\"\\\\\\u000a\"",
			      "\"nic_mode\":\"virtio\"", "\"pps_tx\":2000.000", "\"p50\":120.5",
			      "\"exits_per_packet\":{\"all\":0.2500,\"userspace\":null,",
			      "\"nic\":0.1250,\"sources\":{\"all\":\"stats\"", "\"irqs_per_packet\":null",
			      "\"stats_now\":{\"blocking\":1}", "\"backend\":\"tap\""};
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		CHECKF(strstr(j, keys[i]), "missing %s in %s", keys[i], j);
	CHECK(strstr(j, "\"hlt\":200.000")); /* 400 over 2 s, from bpf */
	free(j);
}

TEST(csv_rows_have_as_many_columns_as_the_header)
{
	char *h = NULL, *r = render(out_csv, sample());
	size_t len = 0;
	FILE *f = open_memstream(&h, &len);
	out_csv_header(f);
	fclose(f);
	unsigned ch = 0, cr = 0;
	for (char *p = h; *p; p++)
		ch += *p == ',';
	for (char *p = r; *p; p++)
		cr += *p == ',';
	CHECK(ch == cr && ch > 27);
	CHECK(!strncmp(h, "t,host,cpu_mode,state,workload,kind,rate,exits_pio_vmm,", 55));
	CHECK(!strncmp(r, "2.000,pvm,paravirt,failed,exits,all,1000,100.000,guest,", 55));
	free(h);
	free(r);
}

TEST(latency_percentiles_come_from_the_log2_histogram)
{
	uint64_t h[HIST_SLOTS] = {0};
	CHECK(hist_percentile_us(h, HIST_SLOTS, 0.5, 1000000) == 0);
	h[10] = 100; /* 1024..2047 cycles at 1 GHz: 1.024..2.048 us */
	CHECK(hist_percentile_us(h, HIST_SLOTS, 0.5, 1000000) > 1.5 &&
	      hist_percentile_us(h, HIST_SLOTS, 0.5, 1000000) < 1.6);
	h[20] = 1; /* one slow outlier: p99 stays in slot 10, p999 lands in slot 20 */
	CHECK(hist_percentile_us(h, HIST_SLOTS, 0.99, 1000000) < 2.1);
	CHECK(hist_percentile_us(h, HIST_SLOTS, 0.999, 1000000) > 1000);
}

TEST(figure_rates_survive_counter_resets)
{
	struct figure f;
	figure_update(&f, 300, 100, 2.0);
	CHECK(f.valid && f.total == 300 && f.rate == 100.0);
	figure_update(&f, 5, 300, 1.0); /* the guest restarted: no negative rate */
	CHECK(f.rate == 0);
	figure_update(&f, 5, 0, 0); /* baseline tick */
	CHECK(f.rate == 0);
}

/* A figure the run does not make is null in JSON and an empty CSV field, never a stale 0 or the
 * last workload's value. */
TEST(figures_the_workload_does_not_make_are_null_not_zero)
{
	static struct snapshot s;
	s = *sample();
	s.latency_valid = false; /* say the workload is tx now */
	char *j = render(out_jsonl, &s), *c = render(out_csv, &s);
	REQUIRE(json_value(j));
	CHECK(strstr(j, "\"latency_us\":null"));
	CHECK(!strstr(j, "120.5"));
	CHECK(!strstr(c, "120.5"));
	/* p50, p99 empty; lost 0; all, -, -, nic, -; no CPU figures */
	CHECK(strstr(c, ",,0,0.2500,,,0.1250,,,,\n") != NULL);
	free(j);
	free(c);
}
