/* Text vmscope writes: UTF-8 checked, cut between characters, escaped for a terminal; a record
 * holding bytes that are not text still parses back. */
#include <stdlib.h>
#include <string.h>

#include "probes/snapshot_json.h"
#include "probes/text.h"
#include "tests/harness.h"

TEST(utf8_accepts_characters_and_refuses_what_is_not_one)
{
	CHECK(utf8_char((const unsigned char *)"a", 1) == 1);
	CHECK(utf8_char((const unsigned char *)"\xc3\xa9", 2) == 2);	     /* é */
	CHECK(utf8_char((const unsigned char *)"\xe4\xb8\xad", 3) == 3);     /* 中 */
	CHECK(utf8_char((const unsigned char *)"\xf0\x9f\x98\x80", 4) == 4); /* U+1F600 */
	CHECK(utf8_char((const unsigned char *)"\xe9", 1) == 0);	     /* Latin-1 é */
	CHECK(utf8_char((const unsigned char *)"\xc0\xaf", 2) == 0);	     /* overlong / */
	CHECK(utf8_char((const unsigned char *)"\xed\xa0\x80", 3) == 0);     /* a surrogate */
	CHECK(utf8_char((const unsigned char *)"\xf4\x90\x80\x80", 4) == 0); /* past U+10FFFF */
	CHECK(utf8_char((const unsigned char *)"\xe4\xb8", 2) == 0);	     /* cut off */
	CHECK(utf8_check("ab\xe4\xb8\xad\xff", 6) == 5);
}

TEST(utf8_copy_never_splits_a_character)
{
	char out[8];
	utf8_copy(out, sizeof(out), "abcde\xe4\xb8\xad"); /* 8 bytes into 7 */
	CHECK(!strcmp(out, "abcde"));
	utf8_copy(out, sizeof(out), "ab\xe4\xb8\xad\xe6\x96\x87"); /* 中文 after ab: 8 bytes */
	CHECK(!strcmp(out, "ab\xe4\xb8\xad"));
	utf8_copy(out, sizeof(out), "abc\xe4\xb8"); /* a character the end cut off */
	CHECK(!strcmp(out, "abc"));
	char same[] = "ab\xe4\xb8\xad\xe6\x96\x87";
	utf8_copy(same, 6, same); /* in place, as the tour's messages are cut */
	CHECK(!strcmp(same, "ab\xe4\xb8\xad"));
}

TEST(text_escape_keeps_text_and_shows_every_other_byte)
{
	char out[64];
	const char in[] = "ok \xe4\xb8\xad \x1b[2J\xff\x7f";
	text_escape(out, sizeof(out), in, sizeof(in) - 1);
	CHECK(!strcmp(out, "ok \xe4\xb8\xad \\x1b[2J\\xff\\x7f"));
}

TEST(a_record_of_bytes_that_are_not_text_is_utf8_and_reads_back)
{
	static struct snapshot s, back;
	char err[200];
	memset(&s, 0, sizeof(s));
	s.t = 1;
	s.seq = 1;
	s.state = VMM_FAILED;
	s.exit_kind = SNAP_NO_KIND;
	strcpy(s.reason, "bad \xff\xfe bytes, and \xe4\xb8");
	s.tour.steps = 1;
	strcpy(s.tour.title, "\xe4\xb8\xad\xe6\x96\x87 title");
	strcpy(s.tour.caption, "x");
	size_t n;
	char *line = snapshot_to_json(&s, &n);
	REQUIRE(line);
	CHECK(utf8_check(line, n) == n);
	REQUIRE(snapshot_from_json(line, n, &back, err, sizeof(err)) == 0);
	CHECK(!strcmp(back.tour.title, s.tour.title)); /* text comes back as it went */
	CHECK(!strcmp(back.reason,
		      "bad \xef\xbf\xbd\xef\xbf\xbd bytes, and \xef\xbf\xbd\xef\xbf\xbd"));
	free(line);
}
