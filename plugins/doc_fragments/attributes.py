# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):

    # The modules that only read (the *_info modules and the planners) say so once, here.
    DOCUMENTATION = r'''
attributes:
  check_mode:
    description: The module only reads, so a run in check mode is the same as any other.
    support: full
  diff_mode:
    description: Nothing is changed, so there is no diff.
    support: none
'''
