/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The binary journal of a vmtrack run (--journal FILE) and its reader
 * (vmtrack report). The byte layout is documented in
 * Documentation/tools/vmtrack/vmtrack-report.rst.
 */
#ifndef _VMTRACK_JOURNAL_H
#define _VMTRACK_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JOURNAL_MAGIC		"VMTRACKJ"
#define JOURNAL_MAJOR		1
#define JOURNAL_MINOR		4	/* 1: the dirty sets of --follow; 2: swept; 3: dense;
					 * 4: the throttle of dump iterations */
#define JOURNAL_FILE_HDR	16	/* magic, major, minor, flags */
#define JOURNAL_REC_HDR		12	/* length, id, reserved, checksum */
/* the largest record a writer produces, and a reader accepts */
#define JOURNAL_MAX_RECORD	(64 * 1024)

/* argument types of the format table */
enum journal_type {
	JT_U8		= 1,
	JT_U32		= 2,
	JT_U64		= 3,
	JT_F64		= 4,	/* IEEE 754 binary64 */
	JT_STR		= 5,	/* u32 id of a string record */
	JT_U64_ARRAY	= 6,	/* u64 values up to the end of the record; last only */
};

/* record ids: 1-15 are the framing's own, 16 and up carry data */
enum journal_id {
	JR_FORMAT	= 1,
	JR_META		= 2,
	JR_STRING	= 3,
	JR_START	= 16,
	JR_EPOCH,
	JR_LOSS,
	JR_RESCAN,
	JR_FREEZE,
	JR_MAPPING,
	JR_DIRTY,
	JR_SUMMARY,
	JR_SUMMARY_RANGE,
	JR_DUMP_ITER,
	JR_DUMP_PENDING,
	JR_DUMP_SUMMARY,
	JR_END,
	JR_SET,
	JR_UNWATCHED,
	JR_FOLLOW,
	JR_NR_IDS
};

/**
 * struct journal_field - one argument of a record
 * @type:	enum journal_type
 * @name:	its name, how readers find it
 */
struct journal_field {
	uint8_t		type;
	const char	*name;
};

/**
 * struct journal_format - one entry of the format table
 * @id:		record id
 * @name:	record name
 * @fmt:	text of the record, one conversion (%u %x %f %s %a) per argument
 * @fields:	the arguments in their order in the record
 * @nr_fields:	entries in @fields
 */
struct journal_format {
	uint16_t			id;
	const char			*name;
	const char			*fmt;
	const struct journal_field	*fields;
	unsigned int			nr_fields;
};

extern const struct journal_format journal_formats[];
extern const size_t journal_nr_formats;

uint32_t journal_checksum(const void *rec, size_t len);

/* ---- writer (journal.c) ------------------------------------------------ */

struct journal;
struct out_epoch_info;
struct out_range;
struct vmtrack_run_stats;
struct dump_iter_info;
struct dump_summary_info;
struct out_set;
struct out_tree_stats;

/* journal_open() flags */
#define JOURNAL_RANGES	(1U << 0)	/* dirty ranges and per-mapping counts too */

struct journal *journal_open(const char *path, unsigned int flags, char *err, size_t errlen);
void journal_meta(struct journal *j, const char *key, const char *value);
void journal_target(struct journal *j, const char *command, pid_t pid, char *const *argv);
void journal_start(struct journal *j, unsigned long interval_ms, uint64_t nr_tracked,
		   uint64_t watched_pages, uint64_t buffer_kb);
void journal_epoch(struct journal *j, const struct out_epoch_info *e);
void journal_freeze(struct journal *j, uint64_t seq, double ms);
void journal_summary(struct journal *j, pid_t pid, const struct vmtrack_run_stats *rs,
		     uint64_t watched_pages, const struct out_range *ranges, size_t n,
		     unsigned int set);
void journal_set(struct journal *j, const struct out_set *set, uint64_t watched_pages);
void journal_unwatched(struct journal *j, pid_t pid, const char *comm, const char *why);
void journal_follow(struct journal *j, const struct out_tree_stats *ts);
void journal_dump_iter(struct journal *j, const struct dump_iter_info *it);
void journal_dump_pending(struct journal *j, uint64_t pending, double estimate_ms,
			  const char *stop);
void journal_dump_summary(struct journal *j, const struct dump_summary_info *s);
int journal_flush(struct journal *j);
int journal_close(struct journal *j, int status, char *err, size_t errlen);

/* ---- reader (journal-read.c) ------------------------------------------- */

/**
 * struct jr_format - a format as a journal's table describes it
 * @id:		record id
 * @name:	record name
 * @fmt:	its text
 * @nr_fields:	arguments
 * @types:	their types
 * @names:	their names
 * @offsets:	their offsets in the payload
 * @fixed:	bytes of the fixed part (all but a trailing array)
 */
struct jr_format {
	uint16_t	id;
	char		*name;
	char		*fmt;
	unsigned int	nr_fields;
	uint8_t		*types;
	char		**names;
	size_t		*offsets;
	size_t		fixed;
};

/**
 * struct jr_record - one data record
 * @id:		record id
 * @fmt:	its format, NULL if the table has none
 * @data:	payload
 * @len:	bytes in @data
 * @offset:	where the record starts in the file
 */
struct jr_record {
	uint16_t		id;
	const struct jr_format	*fmt;
	const uint8_t		*data;
	size_t			len;
	uint64_t		offset;
};

struct jreader;

struct jreader *jreader_open(const char *path, char *err, size_t errlen);
struct jreader *jreader_open_mem(const void *buf, size_t len, char *err, size_t errlen);
void jreader_close(struct jreader *r);
const char *jreader_meta(const struct jreader *r, const char *key);
unsigned int jreader_minor(const struct jreader *r);
int jreader_next(struct jreader *r, struct jr_record *rec);
const char *jreader_error(const struct jreader *r);
uint64_t jreader_stop_offset(const struct jreader *r);
int jr_field(const struct jr_format *f, const char *name);
uint64_t jr_u64(const struct jr_record *rec, int field);
double jr_f64(const struct jr_record *rec, int field);
const char *jr_str(const struct jreader *r, const struct jr_record *rec, int field);
size_t jr_array(const struct jr_record *rec, int field, const uint8_t **values);
uint64_t jr_array_at(const uint8_t *values, size_t i);

#endif /* _VMTRACK_JOURNAL_H */
