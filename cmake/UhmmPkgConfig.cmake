# SPDX-License-Identifier: MIT
# uhmm_install_pkgconfig(<template>)
#
# Installs <libdir>/pkgconfig/uhmm.pc.  The file is configured at *install*
# time from the CMAKE_INSTALL_PREFIX that `cmake --install` uses, so
# `cmake --install build --prefix /some/dir` yields a .pc file describing
# /some/dir.  Install rules run in order: the install(CODE) below regenerates
# the file, the install(FILES) after it copies it (honouring DESTDIR).
#
# Libs carries -Wl,-rpath,${libdir} (UHMM_PC_RPATH, default ON), so that a
# program built with `pkg-config --libs uhmm` against a private prefix
# ($HOME/.local) starts without LD_LIBRARY_PATH.  Distribution packages that
# install into the linker's default directories configure it OFF.
include_guard(GLOBAL)

option(UHMM_PC_RPATH "uhmm.pc: add -Wl,-rpath,\${libdir} to Libs" ON)

function(uhmm_install_pkgconfig template)
    set(_gen "${PROJECT_BINARY_DIR}/pkgconfig/uhmm.pc")
    foreach(_d LIBDIR INCLUDEDIR)
        if(IS_ABSOLUTE "${CMAKE_INSTALL_${_d}}")
            set(_pc_${_d} "${CMAKE_INSTALL_${_d}}")
        else()
            set(_pc_${_d} "\${prefix}/${CMAKE_INSTALL_${_d}}")
        endif()
    endforeach()
    # Configure-time copy too, so the build tree always has one to inspect.
    set(PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
    set(PC_LIBDIR "${_pc_LIBDIR}")
    set(PC_INCLUDEDIR "${_pc_INCLUDEDIR}")
    if(UHMM_PC_RPATH)
        set(PC_RPATH " -Wl,-rpath,\${libdir}")
    else()
        set(PC_RPATH "")
    endif()
    configure_file("${template}" "${_gen}" @ONLY)
    install(CODE "
        set(PROJECT_DESCRIPTION [==[${PROJECT_DESCRIPTION}]==])
        set(PROJECT_VERSION [==[${PROJECT_VERSION}]==])
        set(PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
        set(PC_LIBDIR [==[${_pc_LIBDIR}]==])
        set(PC_INCLUDEDIR [==[${_pc_INCLUDEDIR}]==])
        set(PC_RPATH [==[${PC_RPATH}]==])
        configure_file([==[${template}]==] [==[${_gen}]==] @ONLY)
    ")
    install(FILES "${_gen}" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
endfunction()
