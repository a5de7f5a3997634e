# The fuzz targets: tests/fuzz/fuzz-<name>.c for each name here, used by
# the libFuzzer build (tests/fuzz/CMakeLists.txt) and the corpus replay
# (tests/CMakeLists.txt). PF_FUZZ_EXTRA_<name> lists extra test sources
# (relative to tests/); a name in PF_FUZZ_PRIVATE includes headers of src/.
set(PF_FUZZ_TARGETS
    config
    convert
    http
    import
    httpproxy
    mboxrd
    netrc
    oauth-json
    response
    sasl
    session
    smtp-reply
    socks
    state
    unstuff)
set(PF_FUZZ_PRIVATE sasl)
set(PF_FUZZ_EXTRA_config fuzz/scratch.c)
set(PF_FUZZ_EXTRA_convert fuzz/scratch.c)
set(PF_FUZZ_EXTRA_oauth-json fuzz/scratch.c)
set(PF_FUZZ_EXTRA_session unit/peer.c fuzz/scratch.c)
set(PF_FUZZ_EXTRA_state fuzz/scratch.c)

# A target on disk that is not listed would silently never be fuzzed.
file(GLOB pf_fuzz_on_disk ${CMAKE_CURRENT_LIST_DIR}/fuzz-*.c)
foreach(f ${pf_fuzz_on_disk})
	get_filename_component(name ${f} NAME_WE)
	string(REGEX REPLACE "^fuzz-" "" short ${name})
	if(NOT short IN_LIST PF_FUZZ_TARGETS)
		message(FATAL_ERROR "tests/fuzz/${name}.c is not listed in "
		    "tests/fuzz/targets.cmake: add it to PF_FUZZ_TARGETS")
	endif()
endforeach()
