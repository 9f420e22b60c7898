/* Inside the e1000 model: what e1000.c (registers, rings, life cycle) and eeprom_phy.c share. */
#ifndef VMSCOPE_E1000_IMPL_H
#define VMSCOPE_E1000_IMPL_H
#include "vmm/e1000/e1000.h"

#define R(e, r) ((e)->reg[(r) / 4])

/* Sets interrupt causes (ICR) and the INTx line to match. */
void e1000_raise(struct e1000 *e, uint32_t cause);

/* eeprom_phy.c */
void e1000_eeprom_build(struct e1000 *e, const uint8_t mac[6]);
uint32_t e1000_eecd_read(struct e1000 *e);
void e1000_eecd_write(struct e1000 *e, uint32_t v);
void e1000_eerd_write(struct e1000 *e, uint32_t v);
void e1000_phy_reset(struct e1000 *e);
void e1000_mdic_write(struct e1000 *e, uint32_t v);

#endif
