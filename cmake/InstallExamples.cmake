# Installs docs/examples with the binary's installed path in them: the
# systemd service's ExecStart and the crontab's PATH name /usr/local/bin,
# which becomes the bin directory of this install, so the examples work
# as installed also with `cmake --install --prefix DIR` (and DESTDIR).
# Run by install(SCRIPT) after install(CODE) has set PF_SRCDIR,
# PF_BINDIR and PF_EXAMPLEDIR (either may be relative to the prefix) and
# PF_GENDIR (in the build tree, for the edited copies).
if(IS_ABSOLUTE "${PF_BINDIR}")
	set(pf_bin "${PF_BINDIR}")
else()
	set(pf_bin "${CMAKE_INSTALL_PREFIX}/${PF_BINDIR}")
endif()
if(IS_ABSOLUTE "${PF_EXAMPLEDIR}")
	set(pf_dest "${PF_EXAMPLEDIR}")
else()
	set(pf_dest "${CMAKE_INSTALL_PREFIX}/${PF_EXAMPLEDIR}")
endif()
set(pf_gen "${PF_GENDIR}")
file(MAKE_DIRECTORY "${pf_gen}")
foreach(f popfetch.service popfetch-daemon.service popfetch.timer crontab
    procmailrc)
	file(READ "${PF_SRCDIR}/docs/examples/${f}" pf_text)
	string(REPLACE "/usr/local/bin" "${pf_bin}" pf_text "${pf_text}")
	file(WRITE "${pf_gen}/${f}" "${pf_text}")
	file(INSTALL DESTINATION "${pf_dest}" TYPE FILE FILES "${pf_gen}/${f}")
endforeach()
