/*
 * libgit2, loaded by the state module when it first needs it. Private to
 * the state module's files (state_int.h includes it); the public contract
 * is state.h.
 *
 * pavesync is not linked with libgit2: Debian's libgit2 brings thirteen
 * shared libraries of its own (mbedTLS, Kerberos, libssh2, pcre2…), and
 * loading them before main() cost every run ~2.5 ms, --version and
 * validate included, before the config parse could start. Loaded by
 * state_git_load() instead (dlopen of libgit2.so.1.5, once per process),
 * which ps_state_warmup_start runs on its thread while the config loads.
 *
 * The state files include this header instead of <git2.h>: it includes
 * <git2.h> for the types and constants, then maps each libgit2 function
 * the module calls, git_NAME, onto the table's member NAME, so a call
 * reads as libgit2's own. Call through it only once state_git_load()
 * returned 0 in this process: ps_state_open, ps_state_default_path and
 * the warm-up load first, and every other libgit2 call needs a ps_state
 * that ps_state_open made. A function missing from the list below is an
 * undefined reference when pavesync links, not a silent direct call.
 */
#ifndef PS_STATE_GIT_H
#define PS_STATE_GIT_H

#include <git2.h>
#include <git2/sys/odb_backend.h>

#include "error.h"

/* The ABI the headers describe: Debian's libgit2-1.5 for libgit2 1.5. */
#define PS_STATE_GIT_SONAME "libgit2.so." LIBGIT2_SOVERSION

/*
 * The libgit2 functions the state module calls, without their "git_"
 * prefix. Each becomes a member of struct state_git of exactly that
 * function's type (taken from <git2.h> with __typeof__, so a mismatch
 * cannot compile), and is looked up as "git_<name>". Each needs its
 * #define below as well.
 */
#define STATE_GIT_FUNCTIONS(X)                                                 \
	X(blob_create_from_buffer)                                             \
	X(blob_free)                                                           \
	X(blob_lookup)                                                         \
	X(blob_rawcontent)                                                     \
	X(blob_rawsize)                                                        \
	X(buf_dispose)                                                         \
	X(commit_committer)                                                    \
	X(commit_create)                                                       \
	X(commit_free)                                                         \
	X(commit_lookup)                                                       \
	X(commit_message)                                                      \
	X(commit_tree)                                                         \
	X(config_free)                                                         \
	X(config_get_string_buf)                                               \
	X(config_iterator_free)                                                \
	X(config_iterator_new)                                                 \
	X(config_next)                                                         \
	X(config_set_string)                                                   \
	X(error_clear)                                                         \
	X(error_last)                                                          \
	X(error_set_str)                                                       \
	X(graph_descendant_of)                                                 \
	X(libgit2_init)                                                        \
	X(libgit2_opts)                                                        \
	X(libgit2_shutdown)                                                    \
	X(libgit2_version)                                                     \
	X(object_free)                                                         \
	X(object_id)                                                           \
	X(object_type2string)                                                  \
	X(odb_add_backend)                                                     \
	X(odb_backend_data_alloc)                                              \
	X(odb_free)                                                            \
	X(odb_init_backend)                                                    \
	X(odb_object_free)                                                     \
	X(odb_object_type)                                                     \
	X(odb_read)                                                            \
	X(odb_write_pack)                                                      \
	X(oid_cmp)                                                             \
	X(oid_cpy)                                                             \
	X(oid_equal)                                                           \
	X(oid_tostr)                                                           \
	X(reference_create)                                                    \
	X(reference_create_matching)                                           \
	X(reference_delete)                                                    \
	X(reference_free)                                                      \
	X(reference_lookup)                                                    \
	X(reference_name_is_valid)                                             \
	X(reference_peel)                                                      \
	X(reference_symbolic_target)                                           \
	X(reference_target)                                                    \
	X(reference_type)                                                      \
	X(reflog_append)                                                       \
	X(reflog_entry_byindex)                                                \
	X(reflog_entry_id_new)                                                 \
	X(reflog_entry_id_old)                                                 \
	X(reflog_entry_message)                                                \
	X(reflog_entrycount)                                                   \
	X(reflog_free)                                                         \
	X(reflog_read)                                                         \
	X(reflog_write)                                                        \
	X(remote_name_is_valid)                                                \
	X(repository_commondir)                                                \
	X(repository_config)                                                   \
	X(repository_config_snapshot)                                          \
	X(repository_discover)                                                 \
	X(repository_free)                                                     \
	X(repository_init_ext)                                                 \
	X(repository_init_options_init)                                        \
	X(repository_is_bare)                                                  \
	X(repository_is_worktree)                                              \
	X(repository_odb)                                                      \
	X(repository_open_ext)                                                 \
	X(repository_open_from_worktree)                                       \
	X(repository_path)                                                     \
	X(repository_workdir)                                                  \
	X(revwalk_free)                                                        \
	X(revwalk_new)                                                         \
	X(revwalk_next)                                                        \
	X(revwalk_push)                                                        \
	X(revwalk_sorting)                                                     \
	X(signature_default)                                                   \
	X(signature_free)                                                      \
	X(signature_now)                                                       \
	X(strarray_dispose)                                                    \
	X(tree_entry_byindex)                                                  \
	X(tree_entry_byname)                                                   \
	X(tree_entry_filemode)                                                 \
	X(tree_entry_id)                                                       \
	X(tree_entry_name)                                                     \
	X(tree_entry_type)                                                     \
	X(tree_entrycount)                                                     \
	X(tree_free)                                                           \
	X(tree_id)                                                             \
	X(tree_lookup)                                                         \
	X(treebuilder_entrycount)                                              \
	X(treebuilder_free)                                                    \
	X(treebuilder_get)                                                     \
	X(treebuilder_insert)                                                  \
	X(treebuilder_new)                                                     \
	X(treebuilder_remove)                                                  \
	X(treebuilder_write)                                                   \
	X(worktree_free)                                                       \
	X(worktree_list)                                                       \
	X(worktree_lookup)                                                     \
	X(worktree_path)                                                       \
	X(worktree_validate)

#define STATE_GIT_MEMBER(name) __typeof__(git_##name) *name;
struct state_git {
	STATE_GIT_FUNCTIONS(STATE_GIT_MEMBER)
};
#undef STATE_GIT_MEMBER

/*
 * The table: filled only by a successful state_git_load(), read-only
 * after.
 */
extern struct state_git state_git;

/*
 * Load libgit2 (dlopen, RTLD_NOW | RTLD_LOCAL), look every function up and
 * check its version: once per process, whichever thread comes first
 * (pthread_once), so a thread that asks while another is loading waits
 * for it. 0, or PS_ERROR with "cannot load libgit2.so.1.5: <dlerror>" (or
 * why the library found cannot be used); a failure is remembered and given
 * again to every later call. It does not call git_libgit2_init (the
 * callers start and shut libgit2 down as they would a linked one). The
 * library is never unloaded.
 */
int state_git_load(ps_error *err);

/* git_NAME(...) calls state_git.NAME(...). After the table and the
 * prototypes: a libgit2 header first included below this point would
 * have its prototypes renamed (and fail to compile); include it above. */
#define git_blob_create_from_buffer state_git.blob_create_from_buffer
#define git_blob_free state_git.blob_free
#define git_blob_lookup state_git.blob_lookup
#define git_blob_rawcontent state_git.blob_rawcontent
#define git_blob_rawsize state_git.blob_rawsize
#define git_buf_dispose state_git.buf_dispose
#define git_commit_committer state_git.commit_committer
#define git_commit_create state_git.commit_create
#define git_commit_free state_git.commit_free
#define git_commit_lookup state_git.commit_lookup
#define git_commit_message state_git.commit_message
#define git_commit_tree state_git.commit_tree
#define git_config_free state_git.config_free
#define git_config_get_string_buf state_git.config_get_string_buf
#define git_config_iterator_free state_git.config_iterator_free
#define git_config_iterator_new state_git.config_iterator_new
#define git_config_next state_git.config_next
#define git_config_set_string state_git.config_set_string
#define git_error_clear state_git.error_clear
#define git_error_last state_git.error_last
#define git_error_set_str state_git.error_set_str
#define git_graph_descendant_of state_git.graph_descendant_of
#define git_libgit2_init state_git.libgit2_init
#define git_libgit2_opts state_git.libgit2_opts
#define git_libgit2_shutdown state_git.libgit2_shutdown
#define git_libgit2_version state_git.libgit2_version
#define git_object_free state_git.object_free
#define git_object_id state_git.object_id
#define git_object_type2string state_git.object_type2string
#define git_odb_add_backend state_git.odb_add_backend
#define git_odb_backend_data_alloc state_git.odb_backend_data_alloc
#define git_odb_free state_git.odb_free
#define git_odb_init_backend state_git.odb_init_backend
#define git_odb_object_free state_git.odb_object_free
#define git_odb_object_type state_git.odb_object_type
#define git_odb_read state_git.odb_read
#define git_odb_write_pack state_git.odb_write_pack
#define git_oid_cmp state_git.oid_cmp
#define git_oid_cpy state_git.oid_cpy
#define git_oid_equal state_git.oid_equal
#define git_oid_tostr state_git.oid_tostr
#define git_reference_create state_git.reference_create
#define git_reference_create_matching state_git.reference_create_matching
#define git_reference_delete state_git.reference_delete
#define git_reference_free state_git.reference_free
#define git_reference_lookup state_git.reference_lookup
#define git_reference_name_is_valid state_git.reference_name_is_valid
#define git_reference_peel state_git.reference_peel
#define git_reference_symbolic_target state_git.reference_symbolic_target
#define git_reference_target state_git.reference_target
#define git_reference_type state_git.reference_type
#define git_reflog_append state_git.reflog_append
#define git_reflog_entry_byindex state_git.reflog_entry_byindex
#define git_reflog_entry_id_new state_git.reflog_entry_id_new
#define git_reflog_entry_id_old state_git.reflog_entry_id_old
#define git_reflog_entry_message state_git.reflog_entry_message
#define git_reflog_entrycount state_git.reflog_entrycount
#define git_reflog_free state_git.reflog_free
#define git_reflog_read state_git.reflog_read
#define git_reflog_write state_git.reflog_write
#define git_remote_name_is_valid state_git.remote_name_is_valid
#define git_repository_commondir state_git.repository_commondir
#define git_repository_config state_git.repository_config
#define git_repository_config_snapshot state_git.repository_config_snapshot
#define git_repository_discover state_git.repository_discover
#define git_repository_free state_git.repository_free
#define git_repository_init_ext state_git.repository_init_ext
#define git_repository_init_options_init state_git.repository_init_options_init
#define git_repository_is_bare state_git.repository_is_bare
#define git_repository_is_worktree state_git.repository_is_worktree
#define git_repository_odb state_git.repository_odb
#define git_repository_open_ext state_git.repository_open_ext
#define git_repository_open_from_worktree                                      \
	state_git.repository_open_from_worktree
#define git_repository_path state_git.repository_path
#define git_repository_workdir state_git.repository_workdir
#define git_revwalk_free state_git.revwalk_free
#define git_revwalk_new state_git.revwalk_new
#define git_revwalk_next state_git.revwalk_next
#define git_revwalk_push state_git.revwalk_push
#define git_revwalk_sorting state_git.revwalk_sorting
#define git_signature_default state_git.signature_default
#define git_signature_free state_git.signature_free
#define git_signature_now state_git.signature_now
#define git_strarray_dispose state_git.strarray_dispose
#define git_tree_entry_byindex state_git.tree_entry_byindex
#define git_tree_entry_byname state_git.tree_entry_byname
#define git_tree_entry_filemode state_git.tree_entry_filemode
#define git_tree_entry_id state_git.tree_entry_id
#define git_tree_entry_name state_git.tree_entry_name
#define git_tree_entry_type state_git.tree_entry_type
#define git_tree_entrycount state_git.tree_entrycount
#define git_tree_free state_git.tree_free
#define git_tree_id state_git.tree_id
#define git_tree_lookup state_git.tree_lookup
#define git_treebuilder_entrycount state_git.treebuilder_entrycount
#define git_treebuilder_free state_git.treebuilder_free
#define git_treebuilder_get state_git.treebuilder_get
#define git_treebuilder_insert state_git.treebuilder_insert
#define git_treebuilder_new state_git.treebuilder_new
#define git_treebuilder_remove state_git.treebuilder_remove
#define git_treebuilder_write state_git.treebuilder_write
#define git_worktree_free state_git.worktree_free
#define git_worktree_list state_git.worktree_list
#define git_worktree_lookup state_git.worktree_lookup
#define git_worktree_path state_git.worktree_path
#define git_worktree_validate state_git.worktree_validate

#endif
