/* The VM list's pure parts: a VMM's name by its command name, a guest's name from its command
 * line (QEMU's -name in its forms, Firecracker's --id; hostile bytes kept off the terminal). */
#include <string.h>

#include "probes/vmlist.h"
#include "tests/harness.h"

static void guest_of(const char *args, size_t len, const char *want)
{
	char out[64];
	vmlist_guest_name(args, len, out, sizeof(out));
	CHECKF(!strcmp(out, want), "wanted '%s', got '%s'", want, out);
}

TEST(vm_list_names_guests_and_vmms_from_their_command_lines)
{
	static const char qemu[] = "qemu-system-x86_64\0-accel\0kvm\0-name\0web-1\0-m\0512";
	static const char libvirt[] = "qemu-system-x86_64\0-name\0guest=db,debug-threads=on\0-S";
	static const char opts[] = "qemu\0-name\0web,process=qemu:web";
	static const char eq[] = "qemu\0-name=batch";
	static const char fc[] = "firecracker\0--api-sock\0/tmp/fc.sock\0--id\0fc-7";
	static const char none[] = "crosvm\0run\0--cpus\0002";
	static const char cut[] = "qemu\0-name"; /* nothing after it */
	static const char esc[] = "qemu\0-name\0a\033[2Jb";
	guest_of(qemu, sizeof(qemu), "web-1");
	guest_of(libvirt, sizeof(libvirt), "db");
	guest_of(opts, sizeof(opts), "web");
	guest_of(eq, sizeof(eq), "batch");
	guest_of(fc, sizeof(fc), "fc-7");
	guest_of(none, sizeof(none), "");
	guest_of(cut, sizeof(cut), "");
	guest_of(esc, sizeof(esc), "a?[2Jb");
	CHECK(!strcmp(vmlist_vmm_name("qemu-system-x86"), "QEMU"));
	CHECK(!strcmp(vmlist_vmm_name("firecracker"), "Firecracker"));
	CHECK(!strcmp(vmlist_vmm_name("cloud-hyperviso"), "Cloud Hypervisor")); /* comm: 15 */
	CHECK(!strcmp(vmlist_vmm_name("vmscope"), "vmscope"));
	CHECK(vmlist_vmm_name("bash") == NULL);
}
