"""Activity invitations, the organiser's side: whom to invite (suggestions) and sending the invitations.

The invitee's side (accept, decline, the inbox) lives in `activities`, which owns invitations.
"""
