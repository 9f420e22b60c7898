/* The table of NIC models. */
#include "vmm/nic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct nic_model *const models[] = {&nic_model_e1000, &nic_model_virtio,
						 &nic_model_vf};

const struct nic_model *nic_model_find(enum nic_mode mode)
{
	for (unsigned i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (models[i]->mode == mode)
			return models[i];
	return NULL;
}

int nic_create(const struct nic_model *model, const struct nic_env *env, struct nic **out)
{
	struct nic *n = calloc(1, model->size);
	if (!n)
		return -ENOMEM;
	n->model = model;
	int r = model->init(n, env);
	if (!r)
		r = model->start(n);
	if (r) {
		model->exit(n);
		free(n);
		return r;
	}
	*out = n;
	return 0;
}

void nic_destroy(struct nic *n)
{
	n->model->exit(n);
	free(n);
}

void nic_read(struct nic *n, struct nic_readout *out)
{
	memset(out, 0, sizeof(*out));
	out->model = n->model->name;
	n->model->read(n, out);
}

unsigned nic_functions(struct nic *n, struct pci_dev **out, unsigned max)
{
	if (n->model->functions)
		return n->model->functions(n, out, max);
	if (!max)
		return 0;
	out[0] = n->pci;
	return 1;
}

void nic_extra(struct nic_readout *out, const char *name, uint64_t value)
{
	if (out->nr_extra < NIC_EXTRA_MAX)
		out->extra[out->nr_extra++] = (struct nic_counter){name, value};
}

void nic_stats_named(const struct nic_stats *s, struct nic_counter *out)
{
	unsigned i = 0;
#define NIC_STAT_NAMED(name, doc) out[i++] = (struct nic_counter){#name, s->name};
	NIC_STATS(NIC_STAT_NAMED)
#undef NIC_STAT_NAMED
}

void nic_stats_add(struct nic_stats *sum, const struct nic_stats *add)
{
	uint64_t *s = (uint64_t *)sum;
	const uint64_t *a = (const uint64_t *)add;
	for (size_t i = 0; i < sizeof(*sum) / sizeof(uint64_t); i++)
		s[i] += a[i];
}
