/* empty.c — the one source of libsenti.so: everything else comes whole from libsenti.a. */
typedef int senti_empty_unit;
