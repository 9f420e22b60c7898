/* MSI-X (PCI 3.0, 6.8.2): capability, table, PBA and masking, for every model. */
#include "vmm/pci/pci_msix.h"

#include <errno.h>
#include <string.h>

static uint16_t control(const struct pci_msix *m)
{
	return (uint16_t)pci_cfg_get(m->pci, (uint32_t)m->cap + 2, 2);
}

bool pci_msix_enabled(const struct pci_msix *m)
{
	return control(m) & PCI_MSIX_ENABLE;
}

int pci_msix_init(struct pci_msix *m, struct pci_dev *d, struct irq_router *irq, unsigned nvec,
		  unsigned bar, uint32_t table, uint32_t pba)
{
	memset(m, 0, sizeof(*m));
	for (unsigned v = 0; v < PCI_MSIX_MAX; v++)
		m->gsi[v] = -1;
	if (!nvec || nvec > PCI_MSIX_MAX || bar >= 6 || (table & 7) || (pba & 7))
		return -EINVAL;
	m->pci = d;
	m->irq = irq;
	m->nvec = nvec;
	m->bar = bar;
	m->table = table;
	m->pba = pba;
	/* Message control: table size - 1; table and PBA offset | BIR. */
	uint8_t body[10] = {(uint8_t)(nvec - 1), 0};
	uint32_t t = table | bar, p = pba | bar;
	memcpy(body + 2, &t, 4);
	memcpy(body + 6, &p, 4);
	m->cap = pci_dev_add_cap(d, PCI_CAP_MSIX, body, sizeof(body));
	if (m->cap < 0)
		return -ENOSPC;
	pci_dev_writable(d, (uint32_t)m->cap + 2, (const uint8_t[]){0, 0xc0}, 2); /* enable, mask */
	for (unsigned v = 0; v < nvec; v++) {
		m->entry[v].ctrl = PCI_MSIX_VMASK; /* vectors start masked */
		m->gsi[v] = irq_alloc(irq);
		if (m->gsi[v] < 0)
			return m->gsi[v];
	}
	return 0;
}

void pci_msix_exit(struct pci_msix *m)
{
	for (unsigned v = 0; v < PCI_MSIX_MAX; v++)
		if (m->gsi[v] >= 0)
			irq_free(m->irq, m->gsi[v]);
	memset(m->gsi, 0xff, sizeof(m->gsi));
}

bool pci_msix_claims(const struct pci_msix *m, unsigned bar, uint64_t off)
{
	return m->pci && bar == m->bar &&
	       ((off >= m->table && off < m->table + 16ull * m->nvec) ||
		(off >= m->pba && off < m->pba + 8ull * ((m->nvec + 63) / 64)));
}

static void send(struct pci_msix *m, unsigned v)
{
	m->sent++;
	irq_raise(m->irq, m->gsi[v]);
}

/* The table or enable changed: route each vector to its message, deliver what was pending. */
static void update(struct pci_msix *m)
{
	uint16_t ctl = control(m);
	bool on = ctl & PCI_MSIX_ENABLE, fmask = ctl & PCI_MSIX_FMASK;
	for (unsigned v = 0; v < m->nvec; v++) {
		uint64_t addr = (uint64_t)m->entry[v].addr_hi << 32 | m->entry[v].addr_lo;
		irq_set_msi(m->irq, m->gsi[v], addr, m->entry[v].data, on && addr);
		if (on && !fmask && !(m->entry[v].ctrl & PCI_MSIX_VMASK) &&
		    (m->pba_bits & (1u << v))) {
			m->pba_bits &= ~(1u << v);
			send(m, v);
		}
	}
}

bool pci_msix_notify(struct pci_msix *m, unsigned v)
{
	uint16_t ctl = control(m);
	if (v >= m->nvec || !(ctl & PCI_MSIX_ENABLE))
		return false;
	if ((ctl & PCI_MSIX_FMASK) || (m->entry[v].ctrl & PCI_MSIX_VMASK)) {
		m->pba_bits |= 1u << v;
		m->pended++;
		return true;
	}
	send(m, v);
	return true;
}

void pci_msix_access(struct pci_msix *m, uint64_t off, void *data, uint32_t len, bool is_write)
{
	if (len != 4 || (off & 3))
		goto bad;
	if (off >= m->pba && off < m->pba + 8ull * ((m->nvec + 63) / 64)) {
		if (is_write)
			goto bad; /* the PBA is read-only */
		uint32_t v = off == m->pba ? m->pba_bits : 0;
		memcpy(data, &v, 4);
		return;
	}
	uint32_t idx = (uint32_t)(off - m->table) / 16, field = (uint32_t)(off % 16) / 4;
	uint32_t *reg = &m->entry[idx].addr_lo + field;
	if (!is_write) {
		memcpy(data, reg, 4);
		return;
	}
	memcpy(reg, data, 4);
	if (field == 3)
		*reg &= PCI_MSIX_VMASK;
	update(m);
	return;
bad:
	m->bad++;
	if (!is_write)
		memset(data, 0, len > 8 ? 8 : len);
}

void pci_msix_cfg_written(struct pci_msix *m, uint32_t off, uint32_t len)
{
	uint32_t ctl = (uint32_t)m->cap + 2;
	if (m->pci && off <= ctl + 1 && off + len > ctl)
		update(m);
}
