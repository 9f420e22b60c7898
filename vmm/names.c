/* The names of the VMM's enums, as the command line, the records and the logs spell them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/names.h"
#include "vmm/nic.h"

const char *vmm_state_name(enum vmm_state s)
{
	static const char *const names[VMM_STATE_MAX] = {"booting", "running", "paused", "failed",
							 "stopped"};
	return (unsigned)s < VMM_STATE_MAX ? names[s] : "?";
}

const char *link_state_name(enum link_state s)
{
	static const char *const names[LINK_STATE_MAX] = {"up", "down", "gone"};
	return (unsigned)s < LINK_STATE_MAX ? names[s] : "?";
}

static const char *const exit_kind_names[EK_MAX + 1] = {
    [EK_PIO_VMM] = "pio_vmm",
    [EK_PIO_EVENTFD] = "pio_eventfd",
    [EK_MMIO_VMM] = "mmio_vmm",
    [EK_MMIO_EVENTFD] = "mmio_eventfd",
    [EK_HYPERCALL] = "hypercall",
    [EK_CPUID] = "cpuid",
    [EK_HLT] = "hlt",
    [EK_ALL] = "all",
};

const char *exit_kind_name(unsigned kind)
{
	return kind <= EK_ALL ? exit_kind_names[kind] : "?";
}

int exit_kind_parse(const char *s, uint32_t *kind)
{
	for (uint32_t k = 0; k <= EK_ALL; k++)
		if (!strcmp(s, exit_kind_names[k])) {
			*kind = k;
			return 0;
		}
	return -EINVAL;
}

static const char *const workload_names[WL_MAX] = {"idle", "exits", "fault", "ping",
						   "tx",   "rx",    "echo",  "both"};

const char *workload_name(unsigned wl)
{
	return wl < WL_MAX ? workload_names[wl] : "?";
}

static const enum workload neighbour_loads[] = {WL_IDLE, WL_TX, WL_RX, WL_BOTH, WL_PING};
#define NR_NEIGHBOUR_LOADS (sizeof(neighbour_loads) / sizeof(neighbour_loads[0]))

int neighbour_load_parse(const char *s, enum workload *wl)
{
	for (unsigned i = 0; i < NR_NEIGHBOUR_LOADS; i++)
		if (!strcmp(s, workload_names[neighbour_loads[i]])) {
			*wl = neighbour_loads[i];
			return 0;
		}
	return -EINVAL;
}

enum workload neighbour_load_next(enum workload wl)
{
	for (unsigned i = 0; i < NR_NEIGHBOUR_LOADS; i++)
		if (neighbour_loads[i] == wl)
			return neighbour_loads[(i + 1) % NR_NEIGHBOUR_LOADS];
	return WL_IDLE;
}

int workload_parse(const char *s, enum workload *wl, uint32_t *kind)
{
	const char *colon = strchr(s, ':');
	if (!strncmp(s, "exits", 5) && (!s[5] || colon == s + 5)) {
		*wl = WL_EXITS;
		return colon ? exit_kind_parse(colon + 1, kind) : 0;
	}
	for (unsigned w = 0; w < WL_MAX; w++)
		if (w != WL_EXITS && w != WL_FAULT && !strcmp(s, workload_names[w])) {
			*wl = (enum workload)w;
			return 0;
		}
	return -EINVAL;
}

static const char *const mode_names[NIC_MODE_MAX] = {
    [NIC_MODE_NONE] = "none",
    [NIC_MODE_EMULATED] = "emulated",
    [NIC_MODE_VIRTIO] = "virtio",
    [NIC_MODE_VF] = "vf",
};

const char *nic_mode_name(enum nic_mode mode)
{
	return mode < NIC_MODE_MAX ? mode_names[mode] : "?";
}

char nic_mode_initial(enum nic_mode mode)
{
	static const char initials[NIC_MODE_MAX] = {
	    [NIC_MODE_NONE] = '?',
	    [NIC_MODE_EMULATED] = 'E',
	    [NIC_MODE_VIRTIO] = 'V',
	    [NIC_MODE_VF] = 'F',
	};
	return mode < NIC_MODE_MAX ? initials[mode] : '?';
}

int nic_mode_parse(const char *s, enum nic_mode *mode)
{
	for (unsigned m = 0; m < NIC_MODE_MAX; m++)
		if (!strcmp(s, mode_names[m]) && (m == NIC_MODE_NONE || nic_model_find(m))) {
			*mode = m;
			return 0;
		}
	return -EINVAL;
}

const char *nic_mode_list(char *buf, size_t n)
{
	size_t at = 0;
	buf[0] = 0;
	for (unsigned m = 1; m < NIC_MODE_MAX; m++)
		if (nic_model_find(m) && at < n)
			at += (size_t)snprintf(buf + at, n - at, "%s%s", at ? ", " : "",
					       mode_names[m]);
	if (at < n)
		snprintf(buf + at, n - at, " or none");
	return buf;
}
