/* Lua patterns with a bounded cost: string.find, string.match, string.gmatch and string.gsub as
   the Lua 5.1 reference manual (§5.4.1, "Patterns") and LuaJIT define them, written for Impulse.

   LuaJIT's own matcher runs a whole search inside one C call, out of reach of the watchdog's count
   hook: a backtracking pattern such as "a*a*a*b" over a few thousand octets, or a plain
   string.find whose needle almost matches everywhere, runs for minutes. This implementation
   keeps Lua's semantics (results, captures, errors, the 200-level nesting limit) and charges
   every step to the state's watchdog, so a runaway match fails like a runaway loop. Plain
   searches use glibc's memmem (two-way: linear in the subject). No library offers Lua's
   pattern dialect with a step budget (PCRE2 has match limits but a different dialect whose
   translation would change edge cases, and no budget across the many calls of one gsub); see
   docs/lua/README.md, "Sandbox". */

#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include "ShimInternal.h"

enum {
    MAX_CAPTURES = 32,          /* LUA_MAXCAPTURES */
    MAX_NESTING = 200,          /* nested item matches before "pattern too complex" (LuaJIT's) */
    CHARGE_EVERY = 1024,        /* steps gathered before one charge to the watchdog */
};

enum { CAPTURE_OPEN = -1, CAPTURE_POSITION = -2 };

typedef const unsigned char *cursor;

typedef struct {
    cursor start;
    ptrdiff_t length;           /* octets, or CAPTURE_OPEN / CAPTURE_POSITION */
} capture_slot;

/* One search: the subject, the pattern, the captures of the attempt under way and the work
   not yet charged. */
typedef struct {
    lua_State *L;
    cursor subject;
    cursor subject_end;
    cursor pattern_end;         /* a Lua pattern ends at its first NUL, as in LuaJIT */
    int nesting;
    int captures;
    long unpaid;
    capture_slot capture[MAX_CAPTURES];
} pattern_search;

static void spend(pattern_search *search, long steps) {
    search->unpaid += steps;
    if (search->unpaid >= CHARGE_EVERY) {
        long steps_due = search->unpaid;
        search->unpaid = 0;
        impulse_lua_charge_work(search->L, steps_due);
    }
}

static void settle(pattern_search *search) {
    long steps_due = search->unpaid;
    search->unpaid = 0;
    if (steps_due > 0) impulse_lua_charge_work(search->L, steps_due);
}

static int fail(pattern_search *search, const char *message) {
    return luaL_error(search->L, "%s", message);
}

/* The %-classes, on ASCII as LuaJIT defines them (no locale; LuaJIT adds Lua 5.2's %g). */
static int in_named_class(int c, int letter) {
    int member;
    switch (letter | 0x20) {
    case 'a': member = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); break;
    case 'c': member = c < 32 || c == 127; break;
    case 'd': member = c >= '0' && c <= '9'; break;
    case 'g': member = c >= 33 && c <= 126; break;     /* printable but space (LuaJIT has it) */
    case 'l': member = c >= 'a' && c <= 'z'; break;
    case 'p': member = (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96)
                       || (c >= 123 && c <= 126); break;
    case 's': member = c == ' ' || (c >= 9 && c <= 13); break;
    case 'u': member = c >= 'A' && c <= 'Z'; break;
    case 'w': member = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); break;
    case 'x': member = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); break;
    case 'z': member = c == 0; break;
    default: return letter == c;        /* %. %% %( …: the character itself */
    }
    return (letter >= 'A' && letter <= 'Z') ? !member : member;
}

/* Where the single-character class starting at `p` ends. */
static cursor class_end(pattern_search *search, cursor p) {
    cursor end = search->pattern_end;
    unsigned char first = *p++;
    if (first == '%') {
        if (p >= end) fail(search, "malformed pattern (ends with '%')");
        return p + 1;
    }
    if (first != '[') return p;
    if (p < end && *p == '^') p++;
    /* The first member is taken as it is, so "[]]" and "[^]]" name ']'. */
    do {
        if (p >= end) fail(search, "malformed pattern (missing ']')");
        unsigned char member = *p++;
        if (member == '%' && p < end) p++;
    } while (p >= end || *p != ']');
    return p + 1;
}

/* Whether `c` is in the set `[ … ]` that opens at `open` and closes at `close`. */
static int in_set(int c, cursor open, cursor close) {
    int wanted = 1;
    cursor p = open + 1;
    if (*p == '^') {
        wanted = 0;
        p++;
    }
    for (; p < close; p++) {
        if (*p == '%') {
            p++;
            if (in_named_class(c, *p)) return wanted;
        } else if (p + 2 < close && p[1] == '-') {
            if (*p <= c && c <= p[2]) return wanted;
            p += 2;
        } else if (*p == c) {
            return wanted;
        }
    }
    return !wanted;
}

/* Whether the subject octet at `s` is in the class `p … class_end` (never at the subject's end). */
static int class_matches(pattern_search *search, cursor s, cursor p, cursor end_of_class) {
    if (s >= search->subject_end) return 0;
    int c = *s;
    switch (*p) {
    case '.': return 1;
    case '%': return in_named_class(c, p[1]);
    case '[': return in_set(c, p, end_of_class - 1);
    default: return *p == c;
    }
}

static cursor match_here(pattern_search *search, cursor s, cursor p);

/* %bxy: from an x, up to the y that balances it. */
static cursor match_balanced(pattern_search *search, cursor s, cursor p) {
    if (p + 1 >= search->pattern_end) fail(search, "unbalanced pattern");
    if (s >= search->subject_end || *s != p[0]) return NULL;
    unsigned char open = p[0], close = p[1];
    int depth = 1;
    for (cursor at = s + 1; at < search->subject_end; at++) {
        if (*at == close) {
            if (--depth == 0) {
                spend(search, at - s);
                return at + 1;
            }
        } else if (*at == open) {
            depth++;
        }
    }
    spend(search, search->subject_end - s);
    return NULL;
}

/* %1 … %9: the text an earlier, closed capture took. */
static cursor match_backreference(pattern_search *search, cursor s, int digit) {
    int index = digit - '1';
    if (index < 0 || index >= search->captures || search->capture[index].length == CAPTURE_OPEN)
        fail(search, "invalid capture index");
    ptrdiff_t length = search->capture[index].length;
    if (length < 0) return NULL;        /* a position capture takes no text */
    spend(search, 1 + length / 8);
    if (search->subject_end - s >= length && memcmp(search->capture[index].start, s, (size_t)length) == 0)
        return s + length;
    return NULL;
}

static cursor open_capture(pattern_search *search, cursor s, cursor p, ptrdiff_t kind) {
    if (search->captures >= MAX_CAPTURES) fail(search, "too many captures");
    int index = search->captures++;
    search->capture[index].start = s;
    search->capture[index].length = kind;
    cursor result = match_here(search, s, p);
    if (result == NULL) search->captures--;
    return result;
}

static cursor close_capture(pattern_search *search, cursor s, cursor p) {
    int index = search->captures - 1;
    while (index >= 0 && search->capture[index].length != CAPTURE_OPEN) index--;
    if (index < 0) fail(search, "invalid pattern capture");
    search->capture[index].length = s - search->capture[index].start;
    cursor result = match_here(search, s, p);
    if (result == NULL) search->capture[index].length = CAPTURE_OPEN;
    return result;
}

/* x* and x+: the longest run first, then shorter ones. */
static cursor expand_greedy(pattern_search *search, cursor s, cursor p, cursor end_of_class) {
    ptrdiff_t run = 0;
    while (class_matches(search, s + run, p, end_of_class)) run++;
    spend(search, run);
    for (; run >= 0; run--) {
        cursor result = match_here(search, s + run, end_of_class + 1);
        if (result != NULL) return result;
    }
    return NULL;
}

/* x-: the shortest run first. */
static cursor expand_lazy(pattern_search *search, cursor s, cursor p, cursor end_of_class) {
    for (;;) {
        cursor result = match_here(search, s, end_of_class + 1);
        if (result != NULL) return result;
        if (!class_matches(search, s, p, end_of_class)) return NULL;
        s++;
    }
}

/* Matches pattern `p` (to its end) at subject position `s`: the end of the match, or NULL.
   Each call is one step; nesting deeper than MAX_NESTING is "pattern too complex". */
static cursor match_here(pattern_search *search, cursor s, cursor p) {
    if (++search->nesting > MAX_NESTING) fail(search, "pattern too complex");
    cursor end = search->pattern_end;
    for (;;) {
        spend(search, 1);
        if (p >= end) break;
        if (*p == '(') {
            s = (p + 1 < end && p[1] == ')') ? open_capture(search, s, p + 2, CAPTURE_POSITION)
                                             : open_capture(search, s, p + 1, CAPTURE_OPEN);
            break;
        }
        if (*p == ')') {
            s = close_capture(search, s, p + 1);
            break;
        }
        if (*p == '$' && p + 1 == end) {
            if (s != search->subject_end) s = NULL;
            break;
        }
        if (*p == '%' && p + 1 < end && p[1] == 'b') {
            s = match_balanced(search, s, p + 2);
            if (s == NULL) break;
            p += 4;
            continue;
        }
        if (*p == '%' && p + 1 < end && p[1] == 'f') {
            p += 2;
            if (p >= end || *p != '[') fail(search, "missing '[' after '%f' in pattern");
            cursor next = class_end(search, p);
            int before = s == search->subject ? 0 : s[-1];
            int at = s < search->subject_end ? *s : 0;
            if (in_set(before, p, next - 1) || !in_set(at, p, next - 1)) {
                s = NULL;
                break;
            }
            p = next;
            continue;
        }
        if (*p == '%' && p + 1 < end && p[1] >= '0' && p[1] <= '9') {
            s = match_backreference(search, s, p[1]);
            if (s == NULL) break;
            p += 2;
            continue;
        }
        /* A single-character class, perhaps with a quantifier. */
        cursor next = class_end(search, p);
        int matched = class_matches(search, s, p, next);
        unsigned char quantifier = next < end ? *next : 0;
        if (quantifier == '?') {
            cursor result;
            if (matched && (result = match_here(search, s + 1, next + 1)) != NULL) {
                s = result;
                break;
            }
            p = next + 1;
            continue;
        }
        if (quantifier == '*') {
            s = expand_greedy(search, s, p, next);
            break;
        }
        if (quantifier == '+') {
            s = matched ? expand_greedy(search, s + 1, p, next) : NULL;
            break;
        }
        if (quantifier == '-') {
            s = expand_lazy(search, s, p, next);
            break;
        }
        if (!matched) {
            s = NULL;
            break;
        }
        s++;
        p = next;
    }
    search->nesting--;
    return s;
}

static void begin_attempt(pattern_search *search) {
    search->captures = 0;
    search->nesting = 0;
}

static void push_capture(pattern_search *search, int index, cursor s, cursor e) {
    lua_State *L = search->L;
    if (index >= search->captures) {
        if (index != 0) fail(search, "invalid capture index");
        lua_pushlstring(L, (const char *)s, (size_t)(e - s));       /* the whole match */
        return;
    }
    capture_slot slot = search->capture[index];
    if (slot.length == CAPTURE_OPEN) fail(search, "unfinished capture");
    if (slot.length == CAPTURE_POSITION)
        lua_pushinteger(L, slot.start - search->subject + 1);
    else
        lua_pushlstring(L, (const char *)slot.start, (size_t)slot.length);
}

/* Pushes the captures (or the whole match when there are none and `s` is given). */
static int push_captures(pattern_search *search, cursor s, cursor e) {
    int count = (search->captures == 0 && s != NULL) ? 1 : search->captures;
    luaL_checkstack(search->L, count, "too many captures");
    for (int i = 0; i < count; i++) push_capture(search, i, s, e);
    return count;
}

static void start_search(pattern_search *search, lua_State *L, const char *subject, size_t length,
                         const char *pattern) {
    search->L = L;
    search->subject = (cursor)subject;
    search->subject_end = (cursor)subject + length;
    search->pattern_end = (cursor)pattern + strlen(pattern);
    search->unpaid = 0;
    begin_attempt(search);
}

/* A number argument as LuaJIT's library reads it: truncated to 32 bits, where a value out of
   range (or NaN) becomes INT32_MIN as the processor's conversion gives it. */
static int32_t int32_argument(lua_State *L, int index, int32_t fallback) {
    if (lua_isnoneornil(L, index)) return fallback;
    lua_Number value = luaL_checknumber(L, index);
    if (value >= -2147483648.0 && value < 2147483648.0) return (int32_t)value;
    return INT32_MIN;
}

static int has_pattern_specials(const char *pattern, size_t length) {
    for (size_t i = 0; i < length; i++)
        if (pattern[i] != 0 && strchr("^$*+?.([%-", pattern[i]) != NULL) return 1;
    return 0;
}

static int find_or_match(lua_State *L, int find) {
    size_t subject_length = 0, pattern_length = 0;
    const char *subject = luaL_checklstring(L, 1, &subject_length);
    const char *pattern = luaL_checklstring(L, 2, &pattern_length);
    int32_t init = int32_argument(L, 3, 1);
    int64_t start = init < 0 ? (int64_t)init + (int64_t)subject_length : (int64_t)init - 1;
    if (start < 0) start = 0;
    if ((uint64_t)start > subject_length) start = (int64_t)subject_length;

    if (find && (lua_toboolean(L, 4) || !has_pattern_specials(pattern, pattern_length))) {
        const char *found = memmem(subject + start, subject_length - (size_t)start, pattern, pattern_length);
        /* Charged for what the search went through: up to the match (and the needle), or to the
           end. A loop of finds walking a long string costs its length, not its length squared. */
        size_t scanned = found == NULL ? subject_length - (size_t)start
                                       : (size_t)(found - (subject + start)) + pattern_length;
        impulse_lua_charge_work(L, (long)(scanned / 16));
        if (found == NULL) {
            lua_pushnil(L);
            return 1;
        }
        lua_pushinteger(L, found - subject + 1);
        lua_pushinteger(L, found - subject + (ptrdiff_t)pattern_length);
        return 2;
    }

    pattern_search search;
    int anchored = pattern[0] == '^';
    if (anchored) pattern++;
    start_search(&search, L, subject, subject_length, pattern);
    cursor s = search.subject + start;
    do {
        begin_attempt(&search);
        cursor end = match_here(&search, s, (cursor)pattern);
        if (end != NULL) {
            settle(&search);
            if (!find) return push_captures(&search, s, end);
            lua_pushinteger(L, s - search.subject + 1);
            lua_pushinteger(L, end - search.subject);
            return push_captures(&search, NULL, NULL) + 2;
        }
    } while (s++ < search.subject_end && !anchored);
    settle(&search);
    lua_pushnil(L);
    return 1;
}

static int bounded_find(lua_State *L) { return find_or_match(L, 1); }
static int bounded_match(lua_State *L) { return find_or_match(L, 0); }

/* The iterator string.gmatch returns; upvalues: subject, pattern, next position. A '^' in the
   pattern is an ordinary character here, as in Lua 5.1. */
static int gmatch_step(lua_State *L) {
    size_t subject_length = 0;
    const char *subject = lua_tolstring(L, lua_upvalueindex(1), &subject_length);
    const char *pattern = lua_tostring(L, lua_upvalueindex(2));
    size_t position = (size_t)lua_tointeger(L, lua_upvalueindex(3));
    pattern_search search;
    start_search(&search, L, subject, subject_length, pattern);
    for (cursor s = search.subject + position; s <= search.subject_end; s++) {
        begin_attempt(&search);
        cursor end = match_here(&search, s, (cursor)pattern);
        if (end != NULL) {
            settle(&search);
            size_t next = (size_t)(end - search.subject) + (end == s ? 1 : 0);
            lua_pushinteger(L, (lua_Integer)next);
            lua_replace(L, lua_upvalueindex(3));
            return push_captures(&search, s, end);
        }
    }
    settle(&search);
    lua_pushinteger(L, (lua_Integer)subject_length + 1);
    lua_replace(L, lua_upvalueindex(3));
    return 0;
}

static int bounded_gmatch(lua_State *L) {
    luaL_checkstring(L, 1);
    luaL_checkstring(L, 2);
    lua_settop(L, 2);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, gmatch_step, 3);
    return 1;
}

/* Appends a replacement string: %0 is the whole match, %1 … %9 the captures, % before anything
   else that character. */
static void add_replacement_text(pattern_search *search, luaL_Buffer *buffer, cursor s, cursor e) {
    size_t length = 0;
    const char *text = lua_tolstring(search->L, 3, &length);
    for (size_t i = 0; i < length; i++) {
        if (text[i] != '%') {
            luaL_addchar(buffer, text[i]);
            continue;
        }
        i++;
        char next = i < length ? text[i] : '\0';
        if (next < '0' || next > '9') {
            luaL_addchar(buffer, next);
        } else if (next == '0') {
            luaL_addlstring(buffer, (const char *)s, (size_t)(e - s));
        } else {
            push_capture(search, next - '1', s, e);
            luaL_addvalue(buffer);
        }
    }
}

static void add_replacement(pattern_search *search, luaL_Buffer *buffer, cursor s, cursor e) {
    lua_State *L = search->L;
    switch (lua_type(L, 3)) {
    case LUA_TFUNCTION: {
        lua_pushvalue(L, 3);
        int count = push_captures(search, s, e);
        lua_call(L, count, 1);
        break;
    }
    case LUA_TTABLE:
        push_capture(search, 0, s, e);
        lua_gettable(L, 3);
        break;
    default:
        add_replacement_text(search, buffer, s, e);
        return;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        lua_pushlstring(L, (const char *)s, (size_t)(e - s));     /* keep the original */
    } else if (!lua_isstring(L, -1)) {
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    }
    luaL_addvalue(buffer);
}

static int bounded_gsub(lua_State *L) {
    size_t subject_length = 0;
    const char *subject = luaL_checklstring(L, 1, &subject_length);
    const char *pattern = luaL_checkstring(L, 2);
    int replacement_type = lua_type(L, 3);
    int limit = luaL_optint(L, 4, (int)(subject_length + 1));
    if (replacement_type != LUA_TNUMBER && replacement_type != LUA_TSTRING
        && replacement_type != LUA_TFUNCTION && replacement_type != LUA_TTABLE)
        luaL_argerror(L, 3, "string/function/table expected");
    int anchored = pattern[0] == '^';
    if (anchored) pattern++;
    pattern_search search;
    start_search(&search, L, subject, subject_length, pattern);
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    cursor s = search.subject;
    int replaced = 0;
    while (replaced < limit) {
        begin_attempt(&search);
        cursor end = match_here(&search, s, (cursor)pattern);
        if (end != NULL) {
            replaced++;
            add_replacement(&search, &buffer, s, end);
        }
        if (end != NULL && end > s) {
            s = end;
        } else if (s < search.subject_end) {
            luaL_addchar(&buffer, (char)*s++);
        } else {
            break;
        }
        if (anchored) break;
    }
    settle(&search);
    luaL_addlstring(&buffer, (const char *)s, (size_t)(search.subject_end - s));
    luaL_pushresult(&buffer);
    lua_pushinteger(L, replaced);
    return 2;
}

void impulse_lua_register_bounded_patterns(lua_State *L) {
    lua_pushcfunction(L, bounded_find);
    lua_setfield(L, -2, "find");
    lua_pushcfunction(L, bounded_match);
    lua_setfield(L, -2, "match");
    lua_pushcfunction(L, bounded_gmatch);
    lua_setfield(L, -2, "gmatch");
    lua_pushcfunction(L, bounded_gsub);
    lua_setfield(L, -2, "gsub");
}
