// expect TS2673: a Component comes from Component.load()
import { Component } from 'relay-autoconfig';
export const component = new Component();
